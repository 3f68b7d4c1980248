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
      return false; // SyntaxError: not a valid pattern
    }
  },
  /** An absolute URL with a scheme and `//`. */
  uri: (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && URL.canParse(s),
  /** An IPv4 dotted quad or an IPv6 literal (no brackets, no zone). */
  ip: (s: string): boolean =>
    /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s) ||
    (/^[0-9a-f:.]+$/i.test(s) && s.includes(':') && URL.canParse(`http://[${s}]/`)),
  /** An address with one `@` and no spaces or angle brackets (not a full RFC 5322 parse). */
  email: /^[^\s@<>]+@[^\s@<>]+$/,
};
