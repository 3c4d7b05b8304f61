import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A value sealed with AES-256-GCM: what is stored instead of the value (no byte of it in clear). */
export interface Sealed {
  /** Format version: 1 = AES-256-GCM, 12-byte IV, 16-byte tag, all base64. */
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

/** The value could not be opened: another key, or the bytes were changed (GCM's tag does not match). */
export class SealBrokenError extends Error {
  override readonly name = 'SealBrokenError';
}

/**
 * Seals a JSON value with a 32-byte key (TOKEN_ENCRYPTION_KEY). `context` is authenticated with it
 * (e.g. the store key), so a sealed value copied under another key does not open there.
 */
export function seal(key: Buffer, value: unknown, context = ''): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** Opens what `seal` made with the same key and context; throws SealBrokenError otherwise. */
export function unseal<T>(key: Buffer, sealed: unknown, context = ''): T {
  const s = sealed as Partial<Sealed> | undefined;
  if (!s || s.v !== 1 || typeof s.iv !== 'string' || typeof s.tag !== 'string' || typeof s.data !== 'string') throw new SealBrokenError('not a sealed value');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
    const text = Buffer.concat([decipher.update(Buffer.from(s.data, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(text) as T;
  } catch {
    throw new SealBrokenError('the sealed value does not open with this key (TOKEN_ENCRYPTION_KEY changed, or the value was altered)');
  }
}
