/** Throws a TypeError showing the bad value unless `value` is a finite number above zero; `unit` (e.g. "milliseconds") goes into the message. */
export function validatePositiveNumber(name: string, value: unknown, unit?: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number${unit ? ` of ${unit}` : ''}, got ${JSON.stringify(value)}`);
  }
  return value;
}
