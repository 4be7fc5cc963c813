/** The toss version, shown by `toss --version` and recorded in state. */
export const VERSION = '0.1.0';
