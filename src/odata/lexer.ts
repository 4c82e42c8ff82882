/**
 * Tokenizer shared by the `$filter` and `$orderby` parsers (reference §1.6, §5.6). Hand-written and
 * single-pass: every character is examined a bounded number of times and no regular expression can
 * backtrack, so hostile input costs linear time. Positions are 1-based character offsets, the unit
 * every error message uses.
 */
import type { BulwarkError } from '../domain/errors.js';
import { errors, truncate } from '../domain/errors.js';
import { isDateOnlyAt, matchDateTimeOffset } from './datetime-literal.js';

/** The query option being tokenized; it prefixes every error message. */
export type QueryOption = '$filter' | '$orderby';

export type Punctuation = '(' | ')' | '[' | ']' | ',' | '/' | ':';

interface TokenBase {
  /** The token as written, quotes included. */
  text: string;
  /** 1-based position of the first character. */
  pos: number;
}

/**
 * One lexical unit. Identifiers cover keywords, function names, property segments and lambda
 * variables alike (the parser decides, case-insensitively); a qualified name with dots is an
 * identifier too. `number` and `guid` exist only so that the parser can reject them with a clear
 * message: no securityAction property is numeric.
 */
export type Token =
  | (TokenBase & { kind: 'identifier' | 'number' | 'guid' | 'end' })
  | (TokenBase & { kind: 'punctuation'; text: Punctuation })
  | (TokenBase & { kind: 'string'; value: string })
  | (TokenBase & { kind: 'enum'; typeName: string; value: string })
  | (TokenBase & { kind: 'dateTime'; value: number });

const identifierPattern = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const numberPattern = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const guidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z_])/iy;
const punctuation = new Set<string>(['(', ')', '[', ']', ',', '/', ':']);
const whitespace = new Set<string>([' ', '\t', '\r', '\n']);
// PostgreSQL text cannot hold NUL, and a lone surrogate has no UTF-8 form: either would make the
// two backends disagree (or fail with a 500), so such literals are refused up front.
const unstorable = /\u0000|\p{Cs}/u;

/** Splits `text` into tokens, always ending with an `end` token. Throws a 400 on a lexical error. */
export function tokenize(text: string, option: QueryOption): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    const pos = i + 1;
    if (whitespace.has(c)) {
      i++;
    } else if (punctuation.has(c)) {
      tokens.push({ kind: 'punctuation', text: c as Punctuation, pos });
      i++;
    } else if (c === "'") {
      const end = scanString(text, i, option);
      tokens.push({ kind: 'string', text: text.slice(i, end), value: unquote(text.slice(i, end)), pos });
      i = end;
    } else if (isDigit(c) || (c === '-' && isDigit(text.charAt(i + 1)))) {
      i = scanNumeric(text, i, option, tokens);
    } else {
      i = scanWord(text, i, option, tokens);
    }
  }
  tokens.push({ kind: 'end', text: '', pos: text.length + 1 });
  return tokens;
}

/** A GUID, an identifier, or a qualified enumeration literal; anything else is a lexical error. */
function scanWord(text: string, i: number, option: QueryOption, tokens: Token[]): number {
  const pos = i + 1;
  const guidEnd = match(guidPattern, text, i);
  if (guidEnd !== undefined) {
    tokens.push({ kind: 'guid', text: text.slice(i, guidEnd), pos });
    return guidEnd;
  }
  const end = match(identifierPattern, text, i);
  if (end === undefined) {
    throw syntaxError(option, pos, `unexpected character ${describeCharacter(text, i)}${hintFor(text.charAt(i))}.`);
  }
  const name = text.slice(i, end);
  if (text.charAt(end) !== "'") {
    tokens.push({ kind: 'identifier', text: name, pos });
    return end;
  }
  // `microsoft.graph.operationStatus'Completed'`: a qualified enumeration literal.
  const close = scanString(text, end, option);
  tokens.push({ kind: 'enum', text: text.slice(i, close), typeName: name, value: unquote(text.slice(end, close)), pos });
  return close;
}

/** `end of input`, `'eq'`, `the string 'x'`: how a token is named in error messages. */
export function describeToken(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of input';
    case 'string':
      return `the string ${quoteForMessage(token.text)}`;
    case 'number':
    case 'guid':
    case 'dateTime':
    case 'enum':
      return `the ${token.kind === 'dateTime' ? 'DateTimeOffset' : token.kind} ${truncate(token.text, 60)}`;
    case 'identifier':
    case 'punctuation':
      return `'${truncate(token.text, 60)}'`;
    default:
      return token satisfies never;
  }
}

/** True when `token` is the identifier `word`, compared case-insensitively (OData keywords). */
export function isKeyword(token: Token, word: string): boolean {
  return token.kind === 'identifier' && token.text.toLowerCase() === word;
}

/** True when `b` starts right where `a` ends: OData paths (`vendorInformation/provider`) allow no spaces. */
export function isAdjacent(a: Token, b: Token): boolean {
  return a.pos + a.text.length === b.pos;
}

/** True when `token` is the punctuation mark `p`. */
export function isPunctuation(token: Token, p: Punctuation): boolean {
  return token.kind === 'punctuation' && token.text === p;
}

/** `Syntax error in $filter at position 8: <detail>` as a 400. */
export function syntaxError(option: QueryOption, pos: number, detail: string): BulwarkError {
  return errors.invalidQuery(`Syntax error in ${option} at position ${pos}: ${detail}`);
}

/** Shortens a quoted literal for an error message without cutting off the closing quote. */
export function quoteForMessage(quoted: string): string {
  return quoted.length > 60 ? `${truncate(quoted.slice(0, 59), 59)}…'` : truncate(quoted, 60);
}

function scanString(text: string, open: number, option: QueryOption): number {
  let i = open + 1;
  for (;;) {
    const close = text.indexOf("'", i);
    if (close < 0) {
      throw syntaxError(option, open + 1, 'unterminated string literal; close it with \' (write \'\' for a quote inside).');
    }
    if (text.charAt(close + 1) !== "'") {
      if (unstorable.test(text.slice(open + 1, close))) {
        throw syntaxError(option, open + 1, 'the string literal contains a NUL character or an unpaired surrogate.');
      }
      return close + 1;
    }
    i = close + 2;
  }
}

function unquote(quoted: string): string {
  return quoted.slice(1, -1).replaceAll("''", "'");
}

function scanNumeric(text: string, i: number, option: QueryOption, tokens: Token[]): number {
  const pos = i + 1;
  const dt = matchDateTimeOffset(text, i);
  if (dt) {
    const raw = text.slice(i, dt.end);
    if (dt.epochMs === undefined) throw syntaxError(option, pos, `'${truncate(raw, 60)}' is not a valid DateTimeOffset.`);
    if (!dt.hasZone) throw syntaxError(option, pos, `the DateTimeOffset ${truncate(raw, 60)} needs a time zone: append Z or ±hh:mm.`);
    tokens.push({ kind: 'dateTime', text: raw, value: dt.epochMs, pos });
    return dt.end;
  }
  if (isDateOnlyAt(text, i)) {
    const raw = text.slice(i, i + 10);
    throw syntaxError(option, pos, `the date ${raw} has no time; write a DateTimeOffset such as ${raw}T00:00:00Z.`);
  }
  const guidEnd = match(guidPattern, text, i);
  const end = guidEnd ?? match(numberPattern, text, i) ?? i + 1;
  tokens.push({ kind: guidEnd === undefined ? 'number' : 'guid', text: text.slice(i, end), pos });
  return end;
}

function match(pattern: RegExp, text: string, start: number): number | undefined {
  pattern.lastIndex = start;
  return pattern.test(text) ? pattern.lastIndex : undefined;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function describeCharacter(text: string, i: number): string {
  const code = text.codePointAt(i) ?? 0;
  const printable = code > 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0) && !(code >= 0xd800 && code < 0xe000);
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return printable ? `'${String.fromCodePoint(code)}' (${hex})` : hex;
}

function hintFor(c: string): string {
  if (c === '"') return '; string literals use single quotes';
  if (c === '=' || c === '<' || c === '>' || c === '!') return '; use eq, ne, gt, ge, lt or le';
  if (c === '&' || c === '|') return '; use and, or';
  return '';
}
