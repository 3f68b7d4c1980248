/**
 * The string formats the config schema uses. Each is self-contained (no closure over module
 * state) because the build also writes them, as source, into the precompiled validator.
 */
export const CONFIG_FORMATS = {
  /** A JavaScript regular expression source. */
  regex: (s: string): boolean => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  /** An absolute URL with a scheme and `//`. */
  uri: (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && URL.canParse(s),
  /** An address with one `@` and no spaces or angle brackets (not a full RFC 5322 parse). */
  email: /^[^\s@<>]+@[^\s@<>]+$/,
};
