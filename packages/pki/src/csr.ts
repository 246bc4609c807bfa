import { ALGORITHM, generateKeys, loadX509, privateKeyPem } from './crypto.js';

/**
 * What a joining node makes before it asks for a certificate: its own key (which stays on the node) and a
 * request signed with it. The subject is a placeholder: the CA decides the node's name.
 */
export async function createKeyAndCsr(): Promise<{ keyPem: string; csrPem: string }> {
  const x509 = await loadX509();
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=flotilla-node',
    keys,
    signingAlgorithm: ALGORITHM,
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}
