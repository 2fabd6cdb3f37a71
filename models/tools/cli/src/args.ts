/** Option values checked by commander as it parses them, so a bad one is a usage error before any work. */
import { InvalidArgumentError } from 'commander';

/** A parser for whole-number options of at least `min`. */
export function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!(text.trim() !== '' && Number.isInteger(n) && n >= min)) throw new InvalidArgumentError(`must be a whole number >= ${min}.`);
    return n;
  };
}
