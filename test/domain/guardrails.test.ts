import { describe, expect, it } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { Guardrails, defaultProtectedEntries } from '../../src/domain/guardrails.js';
import type { Indicator, IndicatorType } from '../../src/domain/indicators/indicator.js';

const defaults = Guardrails.from(
  defaultProtectedEntries({ addresses: ['192.0.2.10', '2001:db8::10'], hostnames: ['bulwark.corp.example'] }),
);
const indicator = (type: IndicatorType, value: string): Indicator => ({ type, value });

function refusal(guardrails: Guardrails, action: string, value: Indicator): BulwarkError {
  try {
    guardrails.check(action, value);
  } catch (e) {
    if (e instanceof BulwarkError) return e;
    throw e;
  }
  throw new Error(`expected ${action} ${value.value} to be refused`);
}

describe('default guardrails', () => {
  it('refuses 0.0.0.0/0 naming loopback, with the documented message', () => {
    const error = refusal(defaults, 'BlockIp', indicator('ip', '0.0.0.0/0'));
    expect(error.code).toBe('ProtectedIndicator');
    expect(error.kind).toBe('badRequest');
    expect(error.message).toBe(
      'BlockIp 0.0.0.0/0 would block 127.0.0.0/8 (loopback), which is protected; see "guardrails" in the configuration.',
    );
  });

  it('refuses ::/0 naming the IPv6 loopback', () => {
    expect(refusal(defaults, 'BlockIp', indicator('ip', '::/0')).message).toContain('would block ::1 (loopback)');
  });

  it.each([
    ['127.0.0.1', '127.0.0.0/8 (loopback)'],
    ['127.5.0.0/16', '127.0.0.0/8 (loopback)'],
    ['96.0.0.0/3', '127.0.0.0/8 (loopback)'],
    ['::1', '::1 (loopback)'],
    ['0.0.0.0', '0.0.0.0 (unspecified address)'],
    ['0.0.0.0/8', '0.0.0.0 (unspecified address)'],
    ['::', ':: (unspecified address)'],
    ['169.254.169.254', '169.254.0.0/16 (link-local)'],
    ['fe80::1', 'fe80::/10 (link-local)'],
    ['224.0.0.251', '224.0.0.0/4 (multicast)'],
    ['ff02::1', 'ff00::/8 (multicast)'],
    ['255.255.255.255', '255.255.255.255 (broadcast)'],
    ['240.0.0.0/4', '255.255.255.255 (broadcast)'],
    ['192.0.2.10', "192.0.2.10 (the service's listen address)"],
    ['192.0.2.0/24', "192.0.2.10 (the service's listen address)"],
    ['2001:db8::/32', "2001:db8::10 (the service's listen address)"],
    ['::ffff:0:0/95', '127.0.0.0/8 (loopback)'], // spans the IPv4-mapped block
  ])('refuses BlockIp %s (%s)', (value, named) => {
    expect(refusal(defaults, 'BlockIp', indicator('ip', value)).message).toContain(`would block ${named}`);
  });

  it.each(['203.0.113.7', '198.51.100.0/24', '2001:db9::/32', '128.0.0.0/3', '192.0.2.11', '::2', 'fec0::1'])(
    'allows BlockIp %s',
    (value) => {
      expect(() => defaults.check('BlockIp', indicator('ip', value))).not.toThrow();
    },
  );

  it.each([
    ['bulwark.corp.example', "bulwark.corp.example (the service's hostname)"],
    ['corp.example', "bulwark.corp.example (the service's hostname)"],
    ['example', undefined], // not a valid domain indicator, but covered all the same
  ])('refuses BlockDomain %s', (value, named) => {
    const message = refusal(defaults, 'BlockDomain', indicator('domain', value)).message;
    expect(message).toContain(`would block ${named ?? 'bulwark.corp.example'}`);
  });

  it.each(['*.bulwark.corp.example', 'x.bulwark.corp.example', 'evil.example', 'localhost.evil.example', '*.corp.example.org'])(
    'allows BlockDomain %s',
    (value) => {
      expect(() => defaults.check('BlockDomain', indicator('domain', value))).not.toThrow();
    },
  );

  it('refuses *.corp.example because the hostname is a strict subdomain', () => {
    expect(() => defaults.check('BlockDomain', indicator('domain', '*.corp.example'))).toThrow(/bulwark\.corp\.example/);
  });

  it.each([
    ['https://bulwark.corp.example/api', 'bulwark.corp.example'],
    ['http://localhost/', 'localhost (loopback)'],
    ['http://127.0.0.1:8080/x', '127.0.0.0/8 (loopback)'],
    ['http://[::1]/x', '::1 (loopback)'],
    ['http://[::ffff:7f00:1]/x', '127.0.0.0/8 (loopback)'],
    ['http://169.254.169.254/latest/meta-data', '169.254.0.0/16 (link-local)'],
  ])('refuses BlockUrl %s', (value, named) => {
    expect(refusal(defaults, 'BlockUrl', indicator('url', value)).message).toContain(`would block ${named}`);
  });

  it.each(['https://evil.example/a', 'https://corp.example/', 'http://203.0.113.7/x', 'https://x.bulwark.corp.example/'])(
    'allows BlockUrl %s',
    (value) => {
      expect(() => defaults.check('BlockUrl', indicator('url', value))).not.toThrow();
    },
  );

  it('never refuses file hashes', () => {
    for (const type of ['md5', 'sha1', 'sha256'] as const) {
      expect(() => defaults.check('BlockFile', indicator(type, 'd41d8cd98f00b204e9800998ecf8427e'))).not.toThrow();
    }
  });

  it('truncates long indicators in the message', () => {
    const url = `http://localhost/${'a'.repeat(1000)}`;
    expect(refusal(defaults, 'BlockUrl', indicator('url', url)).message.length).toBeLessThan(350);
  });
});

describe('custom guardrails', () => {
  const custom = Guardrails.from([
    { value: 'api.example.com', label: 'payment provider' },
    { value: '*.cdn.example', label: 'CDN' },
    { value: '10.0.0.0/8', label: 'internal network' },
    { value: '10.1.2.3', label: 'domain controller' },
    { value: '[2001:db8::53]', label: 'resolver' },
    { value: ' Intranet ', label: 'intranet' },
  ]);

  it.each([
    ['example.com', 'api.example.com (payment provider)'],
    ['api.example.com', 'api.example.com (payment provider)'],
    ['*.example.com', 'api.example.com (payment provider)'],
    ['cdn.example', '*.cdn.example (CDN)'],
    ['*.cdn.example', '*.cdn.example (CDN)'],
    ['img.cdn.example', '*.cdn.example (CDN)'],
    ['*.img.cdn.example', '*.cdn.example (CDN)'],
    ['example', '*.cdn.example (CDN)'],
  ])('refuses BlockDomain %s', (value, named) => {
    expect(refusal(custom, 'BlockDomain', indicator('domain', value)).message).toContain(`would block ${named}`);
  });

  it.each(['www.example.com', 'x.api.example.com', '*.api.example.com', 'cdn.example.org', 'notcdn.example'])(
    'allows BlockDomain %s',
    (value) => {
      expect(() => custom.check('BlockDomain', indicator('domain', value))).not.toThrow();
    },
  );

  it('names the first configured entry when several conflict', () => {
    expect(refusal(custom, 'BlockIp', indicator('ip', '10.1.2.3')).message).toContain('10.0.0.0/8 (internal network)');
    expect(refusal(custom, 'BlockIp', indicator('ip', '0.0.0.0/0')).message).toContain('10.0.0.0/8 (internal network)');
    expect(refusal(custom, 'BlockIp', indicator('ip', '2001:db8::/64')).message).toContain('2001:db8::53 (resolver)');
  });

  it('checks URL hosts against hostnames, wildcards and ranges', () => {
    expect(() => custom.check('BlockUrl', indicator('url', 'https://api.example.com/pay'))).toThrow(/payment provider/);
    expect(() => custom.check('BlockUrl', indicator('url', 'https://a.cdn.example/x.js'))).toThrow(/CDN/);
    expect(() => custom.check('BlockUrl', indicator('url', 'https://10.9.9.9/'))).toThrow(/internal network/);
    expect(() => custom.check('BlockUrl', indicator('url', 'https://cdn.example/x.js'))).not.toThrow();
    expect(() => custom.check('BlockUrl', indicator('url', 'https://www.example.com/'))).not.toThrow();
  });

  it('allows everything when no entries are configured', () => {
    const none = Guardrails.from([]);
    expect(() => none.check('BlockIp', indicator('ip', '0.0.0.0/0'))).not.toThrow();
    expect(() => none.check('BlockDomain', indicator('domain', 'example.com'))).not.toThrow();
  });

  it.each(['', 'not a host', '1.2.3.4/33', '010.0.0.1', 'fe80::1%eth0', 'a..b', 'https://x.example/'])(
    'rejects the configured entry %j at start-up with a plain Error',
    (value) => {
      let thrown: unknown;
      try {
        Guardrails.from([{ value, label: 'bad' }]);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).not.toBeInstanceOf(BulwarkError);
      expect((thrown as Error).message).toContain('(bad)');
    },
  );

  it('stays fast with large allow-lists', () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => [
      { value: `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`, label: `net ${i}` },
      { value: `host${i}.svc${i % 100}.example`, label: `host ${i}` },
    ]).flat();
    const started = performance.now();
    const large = Guardrails.from(entries);
    for (let i = 0; i < 20_000; i++) {
      large.check('BlockIp', indicator('ip', `203.0.${i & 255}.${(i >> 8) & 255}`));
      large.check('BlockDomain', indicator('domain', `evil${i}.example.org`));
    }
    expect(performance.now() - started).toBeLessThan(3000);
    expect(() => large.check('BlockDomain', indicator('domain', 'svc7.example'))).toThrow(/host7\.svc7\.example \(host 7\)/);
    expect(() => large.check('BlockIp', indicator('ip', '10.0.5.7'))).toThrow(/10\.0\.5\.0\/24 \(net 5\)/);
  });
});
