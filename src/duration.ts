const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a human duration such as `500ms`, `30s`, `10m`, `2h` or `7d` into milliseconds.
 * Returns undefined when the text is not a duration.
 *
 * @example parseDuration('7d') // 604800000
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(text);
  if (!m) return text.trim() === '0' ? 0 : undefined;
  return Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
