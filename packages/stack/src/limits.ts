/** Bounds that keep a hostile stack file from exhausting memory or time. */
export const LIMITS = {
  /** Largest stack, override or env file read. */
  maxFileBytes: 1024 * 1024,
  /** Deepest nesting of maps and sequences. Real stack files stay under 10. */
  maxDepth: 64,
  /** Most nodes one file may expand to once aliases are resolved ("billion laughs" files blow past this). */
  maxNodes: 250_000,
  /**
   * Most files merged into one stack with -c; and, counted apart, most files one stack reads through `include`
   * and `extends` (their env files included), so that a file cannot make the loader read thousands.
   */
  maxFiles: 32,
  /** Largest secret or config content, as the managers (and Swarm) cap it. */
  maxFileObjectBytes: 500 * 1024,
} as const;
