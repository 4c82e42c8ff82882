/**
 * Recursive-descent parser for Graph's `$filter` subset (reference §5.6), producing the typed AST of
 * `ast.ts`. Grammar, lowest precedence first; keywords are case-insensitive:
 *
 * ```
 * or         := and ('or' and)*
 * and        := condition ('and' condition)*
 * condition  := path compareOp literal | path 'in' '(' literal (',' literal)* ')'
 *             | literal compareOp path                       (operator mirrored)
 *             | boolean [('eq' | 'ne') ('true' | 'false')]   (folded away)
 * boolean    := 'not' boolean | '(' or ')' | function '(' path ',' string ')'
 *             | 'parameters/any(' [variable ':' or] ')'
 * ```
 *
 * So `not` binds tighter than comparisons: it applies to a parenthesised condition, a function call
 * or a lambda, never to a bare property. Every property is resolved against the whitelist in
 * `property-map.ts` and every literal is type-checked (`filter-literals.ts`). Limits keep hostile
 * input cheap: see {@link filterLimits}.
 */
import type { ComparisonOperator, FilterNode, StringFunction } from './ast.js';
import type { Token } from './lexer.js';
import type { PropertyRef } from './filter-literals.js';
import type { Path, Scope } from './filter-properties.js';
import { errors, truncate } from '../domain/errors.js';
import { FilterCursor, filterLimits } from './filter-cursor.js';
import { checkOperator, coerceLiteral, isLiteralToken } from './filter-literals.js';
import { resolveFilterProperty } from './filter-properties.js';
import { describeToken, isKeyword, isPunctuation, tokenize } from './lexer.js';

export { filterLimits } from './filter-cursor.js';

const comparisonOperators: readonly string[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'] satisfies ComparisonOperator[];
const stringFunctions: readonly string[] = ['startswith', 'endswith', 'contains'] satisfies StringFunction[];
const mirrored: Readonly<Record<ComparisonOperator, ComparisonOperator>> = {
  eq: 'eq', ne: 'ne', gt: 'lt', ge: 'le', lt: 'gt', le: 'ge',
};
const unsupportedOperators = new Set(['has', 'add', 'sub', 'mul', 'div', 'divby', 'mod']);
/** Words that can never start a property path or name a lambda variable. */
const reserved = new Set(['and', 'or', 'not', 'in', ...comparisonOperators, ...unsupportedOperators]);

/**
 * Parses a decoded `$filter` value into a validated AST with canonical property names and coerced
 * literals. Throws `errors.invalidQuery` (400) naming the offending term and its 1-based position.
 */
export function parseFilter(text: string): FilterNode {
  if (text.length > filterLimits.maxLength) {
    throw errors.invalidQuery(`$filter is too long (${text.length} characters); the limit is ${filterLimits.maxLength}.`);
  }
  return new FilterParser(tokenize(text, '$filter')).parse();
}

/** An identifier that can start a property path (or a function / lambda path). */
function isPathStart(t: Token): boolean {
  return t.kind === 'identifier' && !isLiteralToken(t) && !reserved.has(t.text.toLowerCase());
}

class FilterParser extends FilterCursor {
  parse(): FilterNode {
    const node = this.parseOr(undefined);
    const t = this.peek();
    if (isPunctuation(t, ')')) throw this.syntax(t, "unbalanced ')' without a matching '('.");
    if (t.kind !== 'end') throw this.syntax(t, `expected 'and', 'or' or end of input, found ${describeToken(t)}.`);
    return node;
  }

  private parseOr(scope: Scope | undefined): FilterNode {
    let left = this.parseAnd(scope);
    while (isKeyword(this.peek(), 'or')) {
      const op = this.next();
      left = this.node({ type: 'or', left, right: this.parseAnd(scope) }, op);
    }
    return left;
  }

  private parseAnd(scope: Scope | undefined): FilterNode {
    let left = this.parseCondition(scope);
    while (isKeyword(this.peek(), 'and')) {
      const op = this.next();
      left = this.node({ type: 'and', left, right: this.parseCondition(scope) }, op);
    }
    return left;
  }

  private parseCondition(scope: Scope | undefined): FilterNode {
    const t = this.peek();
    if (isLiteralToken(t)) return this.parseLiteralFirst(scope);
    if (isPathStart(t)) {
      const path = this.parsePath();
      if (isPunctuation(this.peek(), '(')) return this.foldBoolean(this.parseCall(path, scope));
      return this.parseComparison(path, scope);
    }
    return this.foldBoolean(this.parseBoolean(scope));
  }

  /** A boolean-valued primary: `not …`, `( … )`, a function call or a lambda. */
  private parseBoolean(scope: Scope | undefined): FilterNode {
    const t = this.peek();
    if (isKeyword(t, 'not')) {
      this.next();
      const operand = this.nested(t, () => this.parseBoolean(scope));
      return this.node({ type: 'not', operand }, t);
    }
    if (isPunctuation(t, '(')) {
      this.next();
      return this.nested(t, () => {
        const inner = this.parseOr(scope);
        this.expect(')', `to close the '(' at position ${t.pos}`);
        return inner;
      });
    }
    if (isPathStart(t)) {
      // Only reachable after `not`: a condition starting with a path is handled by parseCondition.
      const path = this.parsePath();
      if (isPunctuation(this.peek(), '(')) return this.parseCall(path, scope);
      throw this.syntax(
        t,
        `'not' applies to a parenthesised condition, a function call or a lambda; write not (${truncate(path.text, 60)} eq …).`,
      );
    }
    throw this.syntax(t, `expected a condition${this.after()}, found ${describeToken(t)}.`);
  }

  /** `X eq true` → X, `X eq false` → not X (and `ne` the other way round). */
  private foldBoolean(operand: FilterNode): FilterNode {
    const op = this.peek();
    if (isKeyword(op, 'eq') || isKeyword(op, 'ne')) {
      this.next();
      const value = this.next();
      if (!isKeyword(value, 'true') && !isKeyword(value, 'false')) {
        const word = op.text.toLowerCase();
        throw this.syntax(
          value,
          `expected true or false after '${word}' (a condition can only be compared with a boolean), found ${describeToken(value)}.`,
        );
      }
      const negate = isKeyword(op, 'eq') !== isKeyword(value, 'true');
      return negate ? this.node({ type: 'not', operand }, op) : operand;
    }
    if (op.kind === 'identifier' && reserved.has(op.text.toLowerCase()) && !isKeyword(op, 'and') && !isKeyword(op, 'or')) {
      throw this.syntax(op, `'${op.text.toLowerCase()}' cannot be applied to a condition; only 'eq true' and 'eq false' can.`);
    }
    return operand;
  }

  private parseComparison(path: Path, scope: Scope | undefined): FilterNode {
    const prop = resolveFilterProperty(path, scope);
    const opToken = this.next();
    const op = this.operator(opToken, `after '${truncate(path.text, 60)}'`);
    if (op === 'in') return this.parseInList(prop, opToken);
    checkOperator(prop, op, opToken.pos);
    const literal = this.next();
    if (!isLiteralToken(literal)) throw this.syntax(literal, `expected a literal after '${op}', found ${describeToken(literal)}.`);
    return this.node({ type: 'compare', op, property: prop.path, value: coerceLiteral(literal, prop, op) }, opToken);
  }

  private parseLiteralFirst(scope: Scope | undefined): FilterNode {
    const literal = this.next();
    const opToken = this.next();
    const op = this.operator(opToken, `after ${describeToken(literal)}`);
    if (op === 'in') throw this.syntax(opToken, "'in' needs a property on its left.");
    const t = this.peek();
    if (!isPathStart(t)) throw this.syntax(t, `expected a property after '${op}', found ${describeToken(t)}.`);
    const path = this.parsePath();
    if (isPunctuation(this.peek(), '(')) throw this.syntax(t, `expected a property after '${op}', found a call to '${truncate(path.text, 60)}'.`);
    const prop = resolveFilterProperty(path, scope);
    // Checked with the operator as written; the outcome is the same for the mirrored one.
    checkOperator(prop, op, opToken.pos);
    const value = coerceLiteral(literal, prop, op);
    return this.node({ type: 'compare', op: mirrored[op], property: prop.path, value }, opToken);
  }

  private parseInList(prop: PropertyRef, inToken: Token): FilterNode {
    const open = this.next();
    if (!isPunctuation(open, '(') && !isPunctuation(open, '[')) {
      throw this.syntax(open, `expected '(' after 'in', found ${describeToken(open)}.`);
    }
    const close = open.text === '(' ? ')' : ']';
    if (isPunctuation(this.peek(), close)) throw this.syntax(this.peek(), "an 'in' list needs at least one value.");
    const values = [];
    for (;;) {
      const literal = this.next();
      if (!isLiteralToken(literal)) throw this.syntax(literal, `expected a literal in the 'in' list, found ${describeToken(literal)}.`);
      values.push(coerceLiteral(literal, prop, 'in'));
      if (values.length > filterLimits.maxInItems) {
        throw errors.invalidQuery(`$filter: the 'in' list at position ${open.pos} has more than ${filterLimits.maxInItems} values.`);
      }
      const separator = this.next();
      if (isPunctuation(separator, close)) break;
      if (!isPunctuation(separator, ',')) {
        throw this.syntax(separator, `expected ',' or '${close}' in the 'in' list, found ${describeToken(separator)}.`);
      }
    }
    return this.node({ type: 'in', property: prop.path, values }, inToken);
  }

  /** `startswith(…)`, `parameters/any(…)`, or an unsupported call; the next token is `(`. */
  private parseCall(path: Path, scope: Scope | undefined): FilterNode {
    const name = (path.segments[path.segments.length - 1]?.text ?? '').toLowerCase();
    if (path.segments.length > 1 && (name === 'any' || name === 'all')) return this.parseLambda(path, scope);
    if (path.segments.length > 1) throw this.syntax(this.peek(), `'${truncate(path.text, 60)}' is not a function.`);
    if (stringFunctions.includes(name)) return this.parseFunction(name as StringFunction, path, scope);
    throw errors.invalidQuery(
      `$filter: function '${truncate(path.text, 60)}' at position ${path.pos} is not supported. Supported functions: ${stringFunctions.join(', ')}.`,
    );
  }

  private parseFunction(name: StringFunction, call: Path, scope: Scope | undefined): FilterNode {
    this.expect('(', `after ${name}`);
    const first = this.peek();
    if (!isPathStart(first)) {
      throw this.syntax(first, `expected a property as the first argument of ${name}, found ${describeToken(first)}.`);
    }
    const prop = resolveFilterProperty(this.parsePath(), scope);
    if (prop.info.kind !== 'string') {
      const kind = prop.info.kind === 'status' ? 'an enumeration' : 'a DateTimeOffset';
      throw errors.invalidQuery(
        `$filter: ${name} at position ${call.pos} applies only to string properties; '${prop.display}' is ${kind}.`,
      );
    }
    this.expect(',', `after the first argument of ${name}`);
    const needle = this.next();
    if (needle.kind !== 'string') {
      throw errors.invalidQuery(
        `$filter: ${name} at position ${call.pos} needs a string literal as its second argument, found ${describeToken(needle)} at position ${needle.pos}.`,
      );
    }
    this.expect(')', `to close ${name}(`);
    return this.node({ type: 'function', name, property: prop.path, value: needle.value }, call);
  }

  private parseLambda(path: Path, scope: Scope | undefined): FilterNode {
    const operator = path.segments[path.segments.length - 1] ?? path;
    const collection = path.segments.slice(0, -1).map((s) => s.text).join('/');
    if (operator.text.toLowerCase() === 'all') {
      throw errors.invalidQuery(
        `$filter: the lambda operator 'all' at position ${operator.pos} is not supported in Microsoft Graph; use 'any'.`,
      );
    }
    if (scope) {
      throw errors.invalidQuery(
        `$filter: the lambda at position ${path.pos} is nested inside another lambda, which is not supported.`,
      );
    }
    if (collection.toLowerCase() !== 'parameters') {
      throw errors.invalidQuery(
        `$filter: '${truncate(collection, 60)}' at position ${path.pos} is not a collection; only 'parameters' supports any().`,
      );
    }
    const open = this.expect('(', 'after any');
    return this.nested(open, () => {
      if (isPunctuation(this.peek(), ')')) {
        this.next();
        return this.node({ type: 'anyNonEmpty', collection: 'parameters' }, path);
      }
      const variable = this.next();
      if (!isPathStart(variable) || variable.text.includes('.')) {
        throw this.syntax(variable, `expected a lambda variable name after 'any(', found ${describeToken(variable)}.`);
      }
      this.expect(':', `after the lambda variable '${variable.text}'`);
      const predicate = this.parseOr({ variable: variable.text });
      this.expect(')', `to close the lambda at position ${path.pos}`);
      return this.node({ type: 'any', collection: 'parameters', predicate }, path);
    });
  }

  private operator(token: Token, context: string): ComparisonOperator | 'in' {
    const word = token.kind === 'identifier' ? token.text.toLowerCase() : '';
    if (word === 'in' || comparisonOperators.includes(word)) return word as ComparisonOperator | 'in';
    if (unsupportedOperators.has(word)) {
      throw errors.invalidQuery(
        `$filter: operator '${word}' at position ${token.pos} is not supported. Supported operators: eq, ne, gt, ge, lt, le, in, not, and, or.`,
      );
    }
    throw this.syntax(token, `expected a comparison operator (eq, ne, gt, ge, lt, le, in) ${context}, found ${describeToken(token)}.`);
  }
}
