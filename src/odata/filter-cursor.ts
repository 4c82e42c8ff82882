/**
 * The token cursor under the `$filter` parser: reading tokens, and counting the nesting depth and
 * AST nodes against {@link filterLimits} so that hostile input stays cheap and the stack shallow.
 */
import type { FilterNode } from './ast.js';
import type { Path } from './filter-properties.js';
import type { Punctuation, Token } from './lexer.js';
import { errors, truncate } from '../domain/errors.js';
import { describeToken, isAdjacent, isPunctuation, syntaxError } from './lexer.js';

/** Bounds on a `$filter`; exceeding one is a 400 that names the limit. */
export const filterLimits = {
  /** characters in the decoded `$filter` value */
  maxLength: 4096,
  /** nested parentheses, `not`s and lambdas */
  maxDepth: 32,
  /** values in one `in` list */
  maxInItems: 100,
  /** AST nodes */
  maxNodes: 200,
} as const;

export class FilterCursor {
  private index = 0;
  private depth = 0;
  private nodes = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  protected peek(): Token {
    return this.tokens[this.index] ?? this.tokens[this.tokens.length - 1] ?? { kind: 'end', text: '', pos: 1 };
  }

  /** Consumes and returns the next token; the final `end` token is never consumed. */
  protected next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.index++;
    return t;
  }

  protected expect(p: Punctuation, context: string): Token {
    const t = this.next();
    if (!isPunctuation(t, p)) throw this.syntax(t, `expected '${p}' ${context}, found ${describeToken(t)}.`);
    return t;
  }

  /** `segment('/'segment)*` with no spaces around the slashes; the next token is an identifier. */
  protected parsePath(): Path {
    const first = this.next();
    const segments = [{ text: first.text, pos: first.pos }];
    let last = first;
    while (isPunctuation(this.peek(), '/') && isAdjacent(last, this.peek())) {
      const slash = this.next();
      const segment = this.next();
      if (segment.kind !== 'identifier' || !isAdjacent(slash, segment)) {
        throw this.syntax(segment, `expected a property name right after '/', found ${describeToken(segment)}.`);
      }
      segments.push({ text: segment.text, pos: segment.pos });
      last = segment;
    }
    return { text: segments.map((s) => s.text).join('/'), pos: first.pos, segments };
  }

  /** Runs `parse` one nesting level deeper (parentheses, `not`, lambda bodies). */
  protected nested<T>(at: Token, parse: () => T): T {
    if (++this.depth > filterLimits.maxDepth) {
      throw errors.invalidQuery(`$filter is nested too deeply at position ${at.pos}; the limit is ${filterLimits.maxDepth} levels.`);
    }
    const result = parse();
    this.depth--;
    return result;
  }

  /** Counts `node` against the node limit and returns it. */
  protected node<T extends FilterNode>(node: T, at: { pos: number }): T {
    if (++this.nodes > filterLimits.maxNodes) {
      throw errors.invalidQuery(`$filter has too many conditions at position ${at.pos}; the limit is ${filterLimits.maxNodes} terms.`);
    }
    return node;
  }

  /** ` after 'eq'`: the previous token, for "expected …" messages. */
  protected after(): string {
    const previous = this.tokens[this.index - 1];
    return previous ? ` after '${truncate(previous.text, 60)}'` : '';
  }

  protected syntax(at: Token, detail: string) {
    return syntaxError('$filter', at.pos, detail);
  }
}
