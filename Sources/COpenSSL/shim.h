#ifndef SLIPWAY_COPENSSL_SHIM_H
#define SLIPWAY_COPENSSL_SHIM_H
// libcrypto only: HMAC, SHA-256, RSA signing. Slipway never uses libssl.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#endif
