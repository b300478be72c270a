/**
 * Removes passwords from any text before it is shown or stored. The connection layer
 * registers every password it parses, so even a driver message that quotes a URL is scrubbed.
 */
const secrets = new Set<string>();

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 1) secrets.add(secret);
}

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)(@)/gi;

export function redact(text: string): string {
  let out = text.replace(URL_PASSWORD, "$1****$3");
  for (const secret of secrets) {
    if (secret.length < 3) continue; // too short to scrub without mangling ordinary text
    out = out.split(secret).join("****");
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join("****");
  }
  return out;
}
