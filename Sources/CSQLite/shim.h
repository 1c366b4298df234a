// Debian's libsqlite3-dev, for the quota state store (PortcullisThrottle/SQLiteQuotaStore.swift).
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro Swift cannot import: a one-line wrapper, as for OpenSSL's.
static inline void (*csqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }
