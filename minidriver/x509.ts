/**
 * The one place @peculiar/x509 is loaded. It resolves its crypto back ends through tsyringe, which
 * needs the reflect-metadata polyfill installed before the library's first import; importing it from
 * here guarantees the order for every layer and test. Its crypto provider is node's WebCrypto.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
