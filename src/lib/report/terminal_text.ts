/**
 * Characters a terminal acts on instead of showing: C0 controls, DEL, C1
 * controls (0x9b is a one-byte CSI on some terminals) and the bidirectional
 * overrides that reorder what is shown. Newlines and tabs are kept where
 * text is multi-line by nature.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escaped = (c: string): string => {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/**
 * A string from a file, a client or the model, made safe to print: every
 * control character is shown as an escape (`\x1b`) instead of reaching the
 * terminal. `multiline` keeps newlines and tabs (generated text).
 */
export function printable(text: string, multiline = false): string {
  return text.replace(multiline ? UNSAFE : UNSAFE_ONE_LINE, escaped);
}
