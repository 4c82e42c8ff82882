import { createGraphBetaServiceClient, extendGraphBetaServiceClient, GraphBetaRequestAdapter } from '@microsoft/msgraph-beta-sdk';
import {
  createSecurityActionCollectionResponseFromDiscriminatorValue,
  createSecurityActionFromDiscriminatorValue,
  serializeSecurityAction,
  type SecurityAction,
  type SecurityActionCollectionResponse,
} from '@microsoft/msgraph-beta-sdk/models/index.js';
import { createODataErrorFromDiscriminatorValue } from '@microsoft/msgraph-beta-sdk/models/oDataErrors/index.js';
import {
  AllowedHostsValidator,
  BaseBearerTokenAuthenticationProvider,
  type AccessTokenProvider,
  type ErrorMappings,
  type NavigationMetadata,
  type RequestConfiguration,
  type RequestsMetadata,
} from '@microsoft/kiota-abstractions';

/**
 * The securityActions request builders of `@microsoft/msgraph-beta-sdk-security` (not published to
 * npm, reference §6.1), registered on the beta service client with `extendGraphBetaServiceClient` —
 * the hook the area packages themselves use. URI templates, query-parameter mappers, content types and
 * adapter methods are those of the generated code (msgraph-beta-sdk-typescript
 * packages/msgraph-beta-sdk-security/security/securityActions/{index,count/index,item/index,
 * item/cancelSecurityAction/index}.ts; compared field by field), so the requests are what the real
 * SDK sends.
 */
const errorMappings = { XXX: createODataErrorFromDiscriminatorValue } as unknown as ErrorMappings;

const collectionQuery = {
  count: '%24count', expand: '%24expand', filter: '%24filter', orderby: '%24orderby',
  search: '%24search', select: '%24select', skip: '%24skip', top: '%24top',
};
const itemQuery = { expand: '%24expand', select: '%24select' };
const collectionTemplate = '{+baseurl}/security/securityActions{?%24count,%24expand,%24filter,%24orderby,%24search,%24select,%24skip,%24top}';
const itemTemplate = '{+baseurl}/security/securityActions/{securityAction%2Did}{?%24expand,%24select}';

const collectionRequests: RequestsMetadata = {
  get: {
    uriTemplate: collectionTemplate,
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'send',
    responseBodyFactory: createSecurityActionCollectionResponseFromDiscriminatorValue,
    queryParametersMapper: collectionQuery,
  },
  post: {
    uriTemplate: collectionTemplate,
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'send',
    responseBodyFactory: createSecurityActionFromDiscriminatorValue,
    requestBodyContentType: 'application/json',
    requestBodySerializer: serializeSecurityAction,
    requestInformationContentSetMethod: 'setContentFromParsable',
  },
};

const countRequests: RequestsMetadata = {
  get: {
    uriTemplate: '{+baseurl}/security/securityActions/$count{?%24filter,%24search}',
    responseBodyContentType: 'text/plain;q=0.9',
    errorMappings,
    adapterMethodName: 'sendPrimitive',
    responseBodyFactory: 'number',
    queryParametersMapper: { filter: '%24filter', search: '%24search' },
  },
};

const itemRequests: RequestsMetadata = {
  get: {
    uriTemplate: itemTemplate,
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'send',
    responseBodyFactory: createSecurityActionFromDiscriminatorValue,
    queryParametersMapper: itemQuery,
  },
  // Undocumented but generated from the CSDL (reference §1.5); Bulwark answers 405 for both.
  patch: {
    uriTemplate: itemTemplate,
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'send',
    responseBodyFactory: createSecurityActionFromDiscriminatorValue,
    requestBodyContentType: 'application/json',
    requestBodySerializer: serializeSecurityAction,
    requestInformationContentSetMethod: 'setContentFromParsable',
  },
  delete: {
    uriTemplate: itemTemplate,
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'sendNoResponseContent',
  },
};

const cancelRequests: RequestsMetadata = {
  post: {
    uriTemplate: '{+baseurl}/security/securityActions/{securityAction%2Did}/cancelSecurityAction',
    responseBodyContentType: 'application/json',
    errorMappings,
    adapterMethodName: 'sendNoResponseContent',
  },
};

const securityNavigation: NavigationMetadata = {
  navigationMetadata: {
    securityActions: {
      requestsMetadata: collectionRequests,
      navigationMetadata: {
        count: { requestsMetadata: countRequests },
        bySecurityActionId: {
          requestsMetadata: itemRequests,
          pathParametersMappings: ['securityAction%2Did'],
          navigationMetadata: { cancelSecurityAction: { requestsMetadata: cancelRequests } },
        },
      },
    },
  },
};

extendGraphBetaServiceClient({ security: securityNavigation } as Parameters<typeof extendGraphBetaServiceClient>[0]);

export interface SecurityActionsCollectionQuery {
  count?: boolean;
  expand?: string[];
  filter?: string;
  orderby?: string[];
  search?: string;
  select?: string[];
  skip?: number;
  top?: number;
}

/** The typed surface of the generated builders we registered (what the -security package declares). */
export interface SecurityActionsRequestBuilder {
  get(config?: RequestConfiguration<SecurityActionsCollectionQuery>): Promise<SecurityActionCollectionResponse | undefined>;
  post(body: SecurityAction, config?: RequestConfiguration<object>): Promise<SecurityAction | undefined>;
  withUrl(rawUrl: string): SecurityActionsRequestBuilder;
  count: { get(config?: RequestConfiguration<{ filter?: string; search?: string }>): Promise<number | undefined> };
  bySecurityActionId(id: string): {
    get(config?: RequestConfiguration<{ expand?: string[]; select?: string[] }>): Promise<SecurityAction | undefined>;
    patch(body: SecurityAction): Promise<SecurityAction | undefined>;
    delete(): Promise<void>;
    cancelSecurityAction: { post(): Promise<void> };
  };
}

export interface BetaClientWithSecurity {
  security: { securityActions: SecurityActionsRequestBuilder };
}

/** An `AccessTokenProvider` whose tokens come from a function (e.g. Bulwark's token endpoint). */
export function tokenProvider(getToken: () => Promise<string>, allowedHosts: string[]): AccessTokenProvider & { calls: number } {
  const validator = new AllowedHostsValidator(new Set(allowedHosts));
  const provider = {
    calls: 0,
    async getAuthorizationToken(url?: string): Promise<string> {
      // Kiota's own providers attach a token only for allowed hosts; so does this one (same validator).
      if (!url || !validator.isUrlHostValid(url)) return '';
      provider.calls++;
      return getToken();
    },
    getAllowedHostsValidator: () => validator,
  };
  return provider;
}

/**
 * The beta service client pointed at `baseUrl` (e.g. `https://127.0.0.1:8443/beta`), with the Graph
 * request adapter's default middleware and HTTP client (global fetch).
 */
export function createBetaClient(baseUrl: string, tokens: AccessTokenProvider): BetaClientWithSecurity {
  const adapter = new GraphBetaRequestAdapter(new BaseBearerTokenAuthenticationProvider(tokens));
  adapter.baseUrl = baseUrl; // before createGraphBetaServiceClient, which only fills an empty baseUrl
  return createGraphBetaServiceClient(adapter) as unknown as BetaClientWithSecurity;
}
