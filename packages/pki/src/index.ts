export type { IssueRequest } from './certificate-authority.js';
export {
  CA_VALIDITY_MS,
  CertificateAuthority,
  caFingerprint,
  issuedBy,
  MANAGER_SERVER_NAME,
  NODE_CERT_VALIDITY_MS,
} from './certificate-authority.js';
export type { CertificateLife } from './certificate-life.js';
export {
  certificateLife,
  MIN_CERT_EXPIRY_MS,
  pastHalfLife,
  RENEW_BY,
  RENEW_FROM,
  renewalTime,
} from './certificate-life.js';
export { createKeyAndCsr } from './csr.js';
export type { ParsedToken } from './join-token.js';
export { generateJoinToken, hashSecret, parseJoinToken, roleForToken } from './join-token.js';
export type { NodeIdentity, NodeRole } from './node-identity.js';
export { readIdentity } from './node-identity.js';
export type { PassphraseBox } from './passphrase-box.js';
export { checkPassphrase, lockWithPassphrase, MIN_PASSPHRASE_LENGTH, openWithPassphrase } from './passphrase-box.js';
export type { PkiReason } from './pki-reason.js';
export { isPkiReason, PKI_REASONS } from './pki-reason.js';
export { RevocationList, revocationKey } from './revocation-list.js';
export { seal, unseal } from './sealing.js';
export { cliConfigDir, StateDir } from './state-dir.js';
