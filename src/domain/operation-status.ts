/**
 * `microsoft.graph.operationStatus`, PascalCase exactly as in the CSDL: Kiota clients map enums by
 * case-sensitive lookup and silently drop anything else (reference §2.5).
 */
export const operationStatuses = ['NotStarted', 'Running', 'Completed', 'Failed'] as const;
export type OperationStatus = (typeof operationStatuses)[number];

const byLowerCase = new Map(operationStatuses.map((s) => [s.toLowerCase(), s]));

/** Case-insensitive lookup of a status name; `undefined` when it is not one. */
export function parseOperationStatus(text: string): OperationStatus | undefined {
  return byLowerCase.get(text.toLowerCase());
}

export function isTerminal(status: OperationStatus): boolean {
  return status === 'Completed' || status === 'Failed';
}
