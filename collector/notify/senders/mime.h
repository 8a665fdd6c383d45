// MIME text encodings for the e-mail sender: a body as quoted-printable
// (RFC 2045 section 6.7) and a header field folded and, when it is not plain
// ASCII, RFC 2047-encoded. Both keep every line of the message well under
// SMTP's 998-octet limit whatever the incident text holds (one long evidence
// line, non-ASCII names, CR/LF that would inject headers). Pure functions;
// any thread.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_MIME_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_MIME_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sonde::notify {

// `text` as a quoted-printable body: each "\n", "\r\n" or "\r" is a hard
// line break (CRLF); every other byte outside printable ASCII, '=' and
// whitespace at a line's end become "=XX"; soft breaks ("=" CRLF) keep each
// encoded line at most 76 characters. Every line, the last too, ends in CRLF.
std::string QuotedPrintable(absl::string_view text);

// "Name: value" CRLF-terminated, the value with CR/LF replaced by spaces.
// Plain ASCII is folded at spaces (RFC 5322 2.2.3) to about 78 characters a
// line; non-ASCII text, or a word too long to fold, becomes a run of RFC 2047
// "=?UTF-8?B?...?=" words (split at UTF-8 character boundaries), one per
// folded line. No line is longer than 100 characters.
std::string HeaderField(absl::string_view name, absl::string_view value);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_MIME_H_
