// The system zlib, for the gzip archive files of `chronicle archive` (ChronicleCommandLine only).
// deflateInit2 and inflateInit2 are macros, which Swift cannot call: these wrap them.
#include <zlib.h>

/// A deflate stream writing the gzip format (RFC 1952), so `zcat` reads the output.
static inline int chronicle_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// An inflate stream reading the gzip format only (and checking its CRC-32 and length).
static inline int chronicle_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}
