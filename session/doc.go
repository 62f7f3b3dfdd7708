// Package session is the protocol core of jwtrefresh: what the token
// service and a session store share, importing nothing else of the module.
// It holds the [Store] contract with its typed outcomes, the refresh-token
// format and the [Secrets] that authenticate it, the record seal, the
// subject index, the input limits and the idempotency-key rules. Package
// redisstore implements the Store on Redis; package storetest is its
// conformance suite and holds an in-memory Store.
//
// It follows RFC 6749 §6 (refresh), RFC 7009 (revocation) and RFC 9700
// §4.14 (refresh-token rotation with reuse detection for public clients),
// with the idempotent retries FAPI 2.0 asks for.
//
// # Refresh tokens
//
// A refresh token is opaque: [TokenPrefix], then base64url of the secret
// version, the subject id, the family (session) id, the generation, a
// 256-bit proof of possession, and an HMAC-SHA256 over all of it under the
// refresh-token secret. [Secrets.Parse] checks the MAC before anything
// else, so a forged token never reaches a store, and knowing a session id
// (every access token carries it) gives no power over the session. A
// child's proof is an HMAC of its parent's proof, so that a replay
// recomputes the byte-identical child and no token is ever stored: a store
// keeps only SHA-256 hashes of proofs.
//
// # Store contract
//
// Rotate decides by the presented token's generation g against the
// family's current generation c:
//
//   - g == c: Rotated. The child (c+1) becomes current; the presented token
//     is used up. If the key hash equals the one of the rotation that made
//     the current token, KeyRepeated instead, and nothing changes: a
//     constant idempotency key would let a thief holding a used token and
//     the key take the current one.
//   - g == c-1, its child unused, with the key hash of the rotation that
//     used it up, or within the store's reuse grace window of it:
//     Replayed, with the secret version the child was made under. Only the
//     immediate parent, never an older generation; nothing branches.
//   - any other genuine token of the family: Reused. The store deletes the
//     subject's sessions (or only this family, per its [ReusePolicy]) in
//     the same atomic step; nothing revoked ever comes back.
//   - g == c+1, the token the family committed to as the current
//     token's child: Healed (see "Healing").
//   - unknown, expired (idle timeout, absolute lifetime) or revoked
//     family, or a proof that is not the family's: Invalid, no change.
//
// Before any of these, the store checks the record's seal (see [SealKey])
// with the rotation's seal keys, and answers Tampered, changing nothing,
// when neither matches. Then, for a session bound to a DPoP key at login
// (NewSession.KeyThumbprint, sealed with the record), it answers
// WrongProofKey, changing nothing, unless Rotation.KeyThumbprint is that
// key's: a used token presented without the key is not reuse, or a thief
// holding only tokens could revoke the victim's sessions. A thumbprint
// presented for an unbound session is ignored: it never binds it. A rotation whose record matched only the
// presented token's key re-seals it under the current one. Concurrent
// presentations of one token make exactly one rotation.
//
// Expiry is sliding: a session unused for the idle timeout ends, and an
// absolute lifetime, if configured, ends it regardless. Create evicts the
// subject's sessions closest to expiry beyond the per-subject cap. Any
// failure to get an answer is [ErrUnavailable], never Invalid.
//
// # Healing
//
// A rotation acknowledged by a Redis primary that then failed before
// replicating it leaves the client holding a child the new primary never
// saw. A token one generation ahead proves nothing by itself (its MAC
// does not cover its parent), so each family keeps a commitment: the
// state (proof hash, generation, secret version) of its current token's
// child, stored at login ([Store.Create]'s child) and with every rotation
// (the [Rotation]'s Grandchild). A presented token equal to that
// commitment is the family's own next token: the store applies the lost
// rotation and the presented one at once (Healed; KeyRepeated when the key
// hash equals the one that made the current token). Nothing else heals: an
// absent, expired, revoked or tampered family, two generations ahead, a
// child made under another secret version, a record without a commitment.
//
// # Push
//
// A store may also be a [Watcher]: it then tells every Store on its
// backend, and so every server instance, which sessions ended, so that
// their session checks refuse an ended session's access tokens at once
// instead of when a cached answer ages out. The rules an implementation
// keeps (package storetest checks them):
//
//   - Every operation that ends sessions pushes their ids: Revoke, RevokeAll,
//     a Rotate that detects reuse (every session of the subject, or the
//     family, per the policy) and a Create that evicts. The push is part of
//     the operation: no session ends without it (redisstore publishes from
//     the script that ends them). Nothing else pushes; expiry does not.
//   - A Watch is live once its subscription is in place; it says so again
//     each time it verifies the subscription, and says when it is lost. An
//     end pushed while a Watch is not live may never reach it: a session
//     check then trusts no cached answer until the Watch is live again, and
//     none read before.
//   - After stop returns, no callback runs.
//
// A Store that wraps another must implement Watcher too, passing Watch
// through, or the push is lost.
//
// # Subject index
//
// Stores find a subject's sessions by its [SubjectID], an HMAC of the
// subject under the subject-index key. That key does not change when the
// refresh-token secret does: [Secrets.Index] keeps it in the store,
// wrapped under each secret version, so that logging out everywhere and
// listing sessions find every live session whatever secret it began
// under. To retire a secret, first run every instance with the new secret
// current and the old one beside it: they store the index key under the
// new secret too.
//
// The index key only hides which subject a store entry belongs to; refresh
// tokens and seals do not depend on it. Whoever removes the stored keys
// makes instances started afterwards derive a new one (from their oldest
// secret): sessions made before are then no longer listed per subject.
package session
