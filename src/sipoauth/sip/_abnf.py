"""RFC 3261 §25 grammar as regular expressions.

Every fragment quotes the ABNF rule it implements. The patterns run on header
values *after* unfolding (RFC 3261 §7.3.1: ``LWS = [*WSP CRLF] 1*WSP`` has
become spaces and tabs), so ``LWS`` and ``SWS`` here only match SP / HTAB.

Python 3.11 possessive quantifiers (``*+``, ``++``) are used wherever the
grammar is unambiguous so that no pattern can backtrack super-linearly on
hostile input (the fuzz tests feed 64 KiB values).
"""

from __future__ import annotations

import re
from typing import Final

# --- RFC 3261 §25.1 basic rules ------------------------------------------------

# LWS = [*WSP CRLF] 1*WSP   ; linear whitespace (after unfolding: 1*WSP)
LWS: Final = r"[ \t]++"
# SWS = [LWS]   ; sep whitespace
SWS: Final = r"[ \t]*+"
# HCOLON = *( SP / HTAB ) ":" SWS ; SEMI = SWS ";" SWS ; EQUAL = SWS "=" SWS ;
# COMMA = SWS "," SWS ; SLASH = SWS "/" SWS ; COLON = SWS ":" SWS
SEMI: Final = SWS + ";" + SWS
EQUAL: Final = SWS + "=" + SWS
COMMA: Final = SWS + "," + SWS
SLASH: Final = SWS + "/" + SWS
COLON: Final = SWS + ":" + SWS

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN_CHARS: Final = r"A-Za-z0-9\-.!%*_+`'~"  # noqa: S105 - not a password
TOKEN: Final = rf"[{TOKEN_CHARS}]++"
# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
WORD: Final = r"""[A-Za-z0-9\-.!%*_+`'~()<>:\\"/\[\]?{}]++"""
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
QUOTED: Final = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]++|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*+"'
# escaped = "%" HEXDIG HEXDIG
ESCAPED: Final = r"%[0-9A-Fa-f]{2}"

# --- RFC 3261 §25.1 host -------------------------------------------------------

# domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
_DOMAINLABEL: Final = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
# toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
_TOPLABEL: Final = r"[A-Za-z][A-Za-z0-9]*+(?:-++[A-Za-z0-9]++)*+"
# hostname = *( domainlabel "." ) toplabel [ "." ]
# (the outer star is deliberately not possessive: it must give back the last
#  label to toplabel; each label itself is matched possessively, so the cost of
#  a failed match stays linear.)
HOSTNAME: Final = rf"(?:{_DOMAINLABEL}\.)*{_TOPLABEL}\.?"
# IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
IPV4: Final = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
# IPv6reference = "[" IPv6address "]"   (the address itself is checked with
# the ipaddress module; this only delimits it)
IPV6REF: Final = r"\[[0-9A-Fa-f:.]++\]"
# IPv6address = hexpart [ ":" IPv4address ]  (delimited here, checked later)
IPV6: Final = r"[0-9A-Fa-f.]*+:[0-9A-Fa-f:.]*+"
# host = hostname / IPv4address / IPv6reference
HOST: Final = rf"(?:{IPV4}(?![A-Za-z0-9\-.])|{HOSTNAME}|{IPV6REF})"
# port = 1*DIGIT   (range 0-65535 checked in code)
PORT: Final = r"[0-9]++"

# --- RFC 3261 §25.1 SIP-URI ----------------------------------------------------

# user = 1*( unreserved / escaped / user-unreserved )
# unreserved = alphanum / mark ; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
USER_SAFE: Final = "-_.!~*'()&=+$,;?/"
USER: Final = rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]++|{ESCAPED})++"
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
PASSWORD_SAFE: Final = "-_.!~*'()&=+$,"  # noqa: S105 - not a password
PASSWORD: Final = rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,]++|{ESCAPED})*+"
# paramchar = param-unreserved / unreserved / escaped
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
# pname = 1*paramchar ; pvalue = 1*paramchar
PARAM_SAFE: Final = "-_.!~*'()[]/:&+$"
_PARAMCHARS: Final = rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++|{ESCAPED})++"
# uri-parameters = *( ";" uri-parameter) ; other-param = pname [ "=" pvalue ]
# (transport-param, user-param, ... are all special cases of other-param)
URI_PARAMS: Final = rf"(?:;{_PARAMCHARS}(?:={_PARAMCHARS})?)*+"
# hname = 1*( hnv-unreserved / unreserved / escaped ) ; hvalue = *( ... )
# hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
HNV_SAFE: Final = "-_.!~*'()[]/?:+$"
_HNAME: Final = rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]++|{ESCAPED})++"
_HVALUE: Final = rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]++|{ESCAPED})*+"
# headers = "?" header *( "&" header ) ; header = hname "=" hvalue
URI_HEADERS: Final = rf"{_HNAME}={_HVALUE}(?:&{_HNAME}={_HVALUE})*+"

# SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
# SIPS-URI = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
#   (telephone-subscriber's characters are a subset of user's)
# hostport = host [ ":" port ]
# This pattern splits a URI with each part's *character set* only (single
# character classes are several times faster in `re` than the nested rules);
# the per-part rules (escapes, hostname labels, pname/pvalue shapes) are then
# checked by _uri.parse_sip_uri with USER/HOST/... above, so the accepted
# language is exactly the grammar's.
# Seven groups: scheme, user, password, host, port, uri-parameters, headers.
SIP_URI_PARTS: Final = (
    r"([Ss][Ii][Pp][Ss]?):"
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/%]++)(?::([A-Za-z0-9\-_.!~*'()&=+$,%]*+))?@)?"
    r"([A-Za-z0-9.\-]++|\[[0-9A-Fa-f:.]++\])(?::([0-9]++))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$%=]*+)*+)"
    r"(?:\?([A-Za-z0-9\-_.!~*'()\[\]/?:+$%=&]*+))?"
)
SIP_URI_RE: Final = re.compile(SIP_URI_PARTS)
# Outside <> (addr-spec form) the URI cannot contain "," ";" "?" (RFC 3261
# §20.10): no uri-parameters, no headers, and user/password without them.
# Same seven groups (the last two never match).
SIP_ADDR_SPEC_PARTS: Final = (
    r"([Ss][Ii][Pp][Ss]?):"
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$/%]++)(?::([A-Za-z0-9\-_.!~*'()&=+$%]*+))?@)?"
    r"([A-Za-z0-9.\-]++|\[[0-9A-Fa-f:.]++\])(?::([0-9]++))?" + 2 * r"(?:((?!)))?"
)
# The same language written with the grammar's own rules: slower, used by the
# tests as the oracle that SIP_URI_RE + the checks in _uri accept exactly it.
SIP_URI_STRICT_RE: Final = re.compile(
    rf"(?i:sips?):(?:{USER}(?::{PASSWORD})?@)?{HOST}(?::{PORT})?{URI_PARAMS}(?:\?{URI_HEADERS})?"
)
# A "%" not starting an escaped triplet (escaped = "%" HEXDIG HEXDIG).
BAD_ESCAPE_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# host = hostname / IPv4address (IPv6reference is checked with ipaddress)
HOST_RE: Final = re.compile(rf"{IPV4}|{HOSTNAME}")

# absoluteURI = scheme ":" ( hier-part / opaque-part )   (RFC 2396, via RFC 3261)
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
# hier-part / opaque-part are sequences of uric = reserved / unreserved / escaped
# reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
# (opaque-part must not start with "/", hier-part does: together, any uric run)
ABSOLUTE_URI_RE: Final = re.compile(
    rf"([A-Za-z][A-Za-z0-9+\-.]*+):((?:[A-Za-z0-9;/?:@&=+$,\-_.!~*'()]++|{ESCAPED})++)"
)

# --- generic parameters --------------------------------------------------------

# generic-param = token [ EQUAL gen-value ] ; gen-value = token / host / quoted-string
# (hostname and IPv4address are token characters; IPv6reference is added.)
GEN_VALUE: Final = rf"(?:{TOKEN}|{IPV6REF}|{QUOTED})"
GEN_PARAMS: Final = rf"(?:{SEMI}{TOKEN}(?:{EQUAL}{GEN_VALUE})?)*+"
GEN_PARAM_ITEM_RE: Final = re.compile(rf";{SWS}({TOKEN})(?:{EQUAL}({TOKEN}|{IPV6REF}|{QUOTED}))?")
# Via params additionally allow a bare IPv6address (via-received only; the
# parameter-specific checks reject it elsewhere).
VIA_GEN_VALUE: Final = rf"(?:{IPV6}|{TOKEN}|{IPV6REF}|{QUOTED})"
VIA_PARAM_ITEM_RE: Final = re.compile(
    rf";{SWS}({TOKEN})(?:{EQUAL}({IPV6}|{TOKEN}|{IPV6REF}|{QUOTED}))?"
)

# --- RFC 3261 §25.1 name-addr / addr-spec -------------------------------------

# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
# display-name = *(token LWS)/ quoted-string
#   (RFC 4475 §3.1.1.6: the LWS before "<" is optional — a known 3261 erratum)
# LAQUOT = SWS "<" ; RAQUOT = ">" SWS
# addr-spec = SIP-URI / SIPS-URI / absoluteURI ; inside <> no LWS is allowed.
# Outside <> the addr-spec cannot contain "," ";" or "?" (RFC 3261 §20.10),
# so it ends at the first of those.
# xxx-spec = ( name-addr / addr-spec ) *( SEMI generic-param )
NAME_ADDR_RE: Final = re.compile(
    rf"(?:({QUOTED})|({TOKEN}(?:{LWS}{TOKEN})*+))?{SWS}<([^<> \t]*+)>{SWS}({GEN_PARAMS}){SWS}"
    rf"|([^ \t;,?<>\"]++)({GEN_PARAMS}){SWS}"
)
# The same for the common case of a SIP/SIPS URI, with the URI split in the
# same match (groups: display quoted, display tokens, the seven SIP_URI_PARTS
# groups, header params). Anything else falls back to NAME_ADDR_RE.
NAME_ADDR_SIP_RE: Final = re.compile(
    rf"(?:({QUOTED})|({TOKEN}(?:{LWS}{TOKEN})*+))?{SWS}<{SIP_URI_PARTS}>{SWS}({GEN_PARAMS}){SWS}"
)
ADDR_SPEC_SIP_RE: Final = re.compile(
    2 * r"(?:((?!)))?" + rf"{SIP_ADDR_SPEC_PARTS}({GEN_PARAMS}){SWS}"
)

# --- RFC 3261 §25.1 Via --------------------------------------------------------

# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol = protocol-name SLASH protocol-version SLASH transport
# protocol-name = "SIP" / token ; protocol-version = token
# transport = "UDP" / "TCP" / "TLS" / "SCTP" / other-transport ; other-transport = token
# sent-by = host [ COLON port ]
#   (host is delimited by its character set here and checked by _uri's host
#    check, which applies HOST_RE: see SIP_URI_RE)
VIA_RE: Final = re.compile(
    rf"({TOKEN}){SLASH}({TOKEN}){SLASH}({TOKEN}){LWS}([A-Za-z0-9.\-]++|{IPV6REF})"
    rf"(?:{COLON}({PORT}))?((?:{SEMI}{TOKEN}(?:{EQUAL}{VIA_GEN_VALUE})?)*+){SWS}"
)
TOKEN_RE: Final = re.compile(TOKEN)
IPV4_RE: Final = re.compile(IPV4)

# --- scalar header fields --------------------------------------------------------

# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method ; Method = INVITEm / ... / extension-method(token)
CSEQ_RE: Final = re.compile(rf"([0-9]++){LWS}({TOKEN})")
# callid = word [ "@" word ]
CALLID_RE: Final = re.compile(rf"{WORD}(?:@{WORD})?")
# delta-seconds = 1*DIGIT
DIGITS_RE: Final = re.compile(r"[0-9]++")
# rfc1123-date = wkday "," SP date1 SP time SP "GMT"
# date1 = 2DIGIT SP month SP 4DIGIT ; time = 2DIGIT ":" 2DIGIT ":" 2DIGIT
# wkday = "Mon" / "Tue" / ... ; month = "Jan" / "Feb" / ...   (case-sensitive, RFC 3261 §25.1)
DATE_RE: Final = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
# media-type = m-type SLASH m-subtype *(SEMI m-parameter)
# m-parameter = m-attribute EQUAL m-value ; m-value = token / quoted-string
MEDIA_TYPE_RE: Final = re.compile(
    rf"({TOKEN}){SLASH}({TOKEN})((?:{SEMI}{TOKEN}{EQUAL}(?:{TOKEN}|{QUOTED}))*+)"
)
# accept-range = media-range *(SEMI accept-param)
# media-range = ( "*/*" / ( m-type SLASH "*" ) / ( m-type SLASH m-subtype ) ) *( SEMI m-parameter )
# accept-param = ("q" EQUAL qvalue) / generic-param
#   ("*" is a token character, so the media-type pattern covers the wildcards.)
ACCEPT_RANGE_RE: Final = re.compile(rf"({TOKEN}){SLASH}({TOKEN})({GEN_PARAMS})")
# encoding = codings *(SEMI accept-param) ; codings = content-coding / "*"
# content-coding = token
CODING_RE: Final = re.compile(rf"({TOKEN})({GEN_PARAMS})")
# option-tag *(COMMA option-tag)  (Require, Supported, Proxy-Require, Unsupported)
OPTION_TAGS_RE: Final = re.compile(rf"{TOKEN}(?:{COMMA}{TOKEN})*+")
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
QVALUE_RE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# ttl = 1*3DIGIT ; 0 to 255
TTL_RE: Final = re.compile(r"[0-9]{1,3}")
# Retry-After = "Retry-After" HCOLON delta-seconds [ comment ] *( SEMI retry-param )
# comment = LPAREN *(ctext / quoted-pair / comment) RPAREN  (nesting checked in code)
RETRY_AFTER_RE: Final = re.compile(rf"([0-9]++){SWS}(\(.*\))?{SWS}({GEN_PARAMS}){SWS}")
# warning-value = warn-code SP warn-agent SP warn-text ; warn-code = 3DIGIT
# warn-agent = hostport / pseudonym(token) ; warn-text = quoted-string
WARNING_RE: Final = re.compile(rf"[0-9]{{3}} (?:{HOST}(?::{PORT})?|{TOKEN}) {QUOTED}")

# --- RFC 3261 §25.1 credentials; RFC 8898 / RFC 6750 Bearer -----------------------

# credentials = ("Digest" LWS digest-response) / other-response
# other-response = auth-scheme LWS auth-param *(COMMA auth-param)
# auth-param = auth-param-name EQUAL ( token / quoted-string )
#   (digest-response's parameters are all auth-param shaped)
# RFC 8898 §2.1 / RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
AUTH_PARAM: Final = rf"{TOKEN}{EQUAL}(?:{TOKEN}|{QUOTED})"
# Groups: scheme, token68, first auth-param name, its value, the other auth-params.
CREDENTIALS_RE: Final = re.compile(
    rf"({TOKEN}){LWS}(?:([A-Za-z0-9\-._~+/]++=*+)"
    rf"|({TOKEN}){EQUAL}({TOKEN}|{QUOTED})((?:{COMMA}{AUTH_PARAM})*+)){SWS}"
)
AUTH_PARAM_ITEM_RE: Final = re.compile(rf"({TOKEN}){EQUAL}({TOKEN}|{QUOTED})")

# Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
REASON_RE: Final = re.compile(
    rf"(?:[A-Za-z0-9;/?:@&=+$,\-_.!~*'() \t\x80-\U0010ffff]++|{ESCAPED})*+"
)
# Request-Line = Method SP Request-URI SP SIP-Version CRLF
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
SIP_VERSION_RE: Final = re.compile(r"(?i:SIP)/[0-9]++\.[0-9]++")
# quoted-pair inside a quoted-string, for unquoting
QUOTED_PAIR_RE: Final = re.compile(r"\\(.)", re.DOTALL)

# Methods seen every day (RFC 3261 §7.1 and the extensions): all tokens, so a
# member of this set needs no regex to be known valid.
COMMON_METHODS: Final = frozenset(
    {"REGISTER", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "NOTIFY", "SUBSCRIBE",
     "REFER", "INFO", "MESSAGE", "UPDATE", "PRACK", "PUBLISH"}
)  # fmt: skip

MAX_UINT32: Final = 2**32 - 1
MAX_PORT: Final = 65535


def unquote(value: str) -> str:
    """Strip the DQUOTEs of a quoted-string and resolve its quoted-pairs."""
    inner = value[1:-1]
    if "\\" in inner:
        return QUOTED_PAIR_RE.sub(r"\1", inner)
    return inner


_NEEDS_ESCAPE_RE: Final = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f\x7f"\\]')


def quote(value: str) -> str:
    """Serialize ``value`` as a quoted-string (escaping what qdtext excludes).

    CR and LF cannot appear in a quoted-string at all, not even as a
    quoted-pair; a value containing them is rejected with ``ValueError``.
    """
    if "\r" in value or "\n" in value:
        raise ValueError("CR/LF cannot be carried in a quoted-string")
    return '"' + _NEEDS_ESCAPE_RE.sub(lambda m: "\\" + m.group(), value) + '"'


def is_token(value: str) -> bool:
    """Whether ``value`` matches ``token``."""
    return TOKEN_RE.fullmatch(value) is not None


def split_params(text: str) -> list[str] | None:
    """Split ``*( SEMI param )`` text that already matched its grammar into
    ``name[=value]`` pieces with str methods, or ``None`` when
    only the regex can do it exactly: SWS around the separators, a ``;`` inside
    a quoted-string (odd DQUOTE count in a piece), a quoted-pair. About 2x
    faster than findall on a typical Contact.
    """
    if "\\" in text or " " in text or "\t" in text:
        return None
    items = text[1:].split(";")
    if '"' in text:
        for item in items:
            if item.count('"') & 1:
                return None
    return items


def parse_uint32(text: str) -> int | None:
    """``1*DIGIT`` as an int when it fits 32 bits unsigned, else ``None``.

    (delta-seconds, CSeq numbers: RFC 3261 §20.19, §8.1.1.5.) Leading zeros
    are allowed; a huge digit string is rejected before ``int()`` sees it.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0")
    if len(significant) > 10:  # (int() also refuses strings over 4300 digits)
        return None
    number = int(significant or "0")
    return number if number <= MAX_UINT32 else None
