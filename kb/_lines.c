/* The lines of a log buffer worth reading, and their line numbers, in one pass in C.
 *
 * kb/markers.py holds the rules (which markers make a line worth reading) and gives them to
 * configure(); this module only applies them fast. A line is reported when it holds a "sure"
 * marker (read it), or a "noisy" one (ASA/FTD/PIX, IOS ACL) together with anything that could
 * make it an event: those are reported as "maybe" and markers.line_is_read decides. For the
 * noisy lines the checks here are a superset of that function's (never narrower), so a line
 * it would read is never left out; tests/test_scan_parity.py holds the engines to the same
 * events. The commonest invalid-SPI lines are also read whole here, into kb.events.Event.
 *
 * Each marker has an anchor: its rarest byte (% = #) or, failing one, its rarest pair of bytes.
 * The pass finds the anchors of 16 bytes at once (GCC's vector extensions): by two lookups in
 * nibble tables per byte pair where the CPU has a byte shuffle (SSSE3, NEON), else by comparing
 * with each anchor. Where one is found, the 3-byte windows around it go through a filter
 * (hashed into a 4 KB bitmap) and the markers it lets through are checked whole. No
 * backtracking: linear in the input whatever it holds.
 *
 * The pass touches no Python object, so it runs without the GIL; Pass runs it in a thread of
 * its own (where POSIX threads are), for the scanner to search the next chunk of a big input
 * while Python reads the lines found in this one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#define PASS_THREADS
#include <pthread.h>
#include <unistd.h>
#endif

#define HASH_BITS 15
#define KIND_SURE 1
#define KIND_NOISY 2
#define ANY_DIGIT 0x01 /* in a pattern: one of 0-9 */
#define MAX_PATTERNS 256
#define MAX_MNEMONICS 64

typedef struct {
    unsigned char *bytes;
    Py_ssize_t length;
    Py_ssize_t window; /* offset of the 3 bytes hashed into the filter; they hold the anchor */
    int kind;
} Pattern;

#define MAX_ANCHORS 32
typedef unsigned char v16 __attribute__((vector_size(16)));
typedef signed char m16 __attribute__((vector_size(16)));

/* A set of markers and what finds them fast. */
typedef struct {
    Pattern patterns[MAX_PATTERNS];
    int pattern_count;
    Py_ssize_t longest;
    unsigned char filter[(1 << HASH_BITS) / 8];
    /* Patterns by hash, in a list per hash: first[h] .. first[h + 1] index into by_hash. */
    uint16_t first[(1 << HASH_BITS) + 1];
    uint16_t by_hash[MAX_PATTERNS];
    /* Distinct anchors: a byte (second == -1) or a pair; and as vectors, bytes apart from
     * pairs, each byte repeated 16 times. */
    int anchor_count, single_count, pair_count;
    int anchor_first[MAX_ANCHORS], anchor_second[MAX_ANCHORS];
    v16 single_v[MAX_ANCHORS], pair_v0[MAX_ANCHORS], pair_v1[MAX_ANCHORS];
    /* By the first byte of an anchor: where windows start around it (bit k: k bytes before). */
    unsigned char window_back[256];
    /* The anchors as nibble tables: anchor i sets bit i % 8 of lo0[its first byte's low
     * nibble] and of hi0[its high nibble], and of lo1/hi1 for its second byte (every entry,
     * for a one-byte anchor). Two table lookups a byte pair find every anchor of 16 bytes at
     * once, whatever their number (a few more positions, to be checked, past eight anchors). */
    v16 lo0, hi0, lo1, hi1;
} Markers;

static Markers line_markers; /* configure()'s: the lines the scanner reads */
static char *mnemonics[MAX_MNEMONICS];
static Py_ssize_t mnemonic_lengths[MAX_MNEMONICS];
static int mnemonic_count;
static int configured;
/* Bytes clean_line would rewrite (or that read differently as str): controls but the line
 * feed, DEL and above, & < and backtick. */
enum { LOOK_REWRITTEN = 1, LOOK_DASH, LOOK_D, LOOK_PERCENT };
static unsigned char look[256]; /* what a byte of a noisy line may start */

static inline uint32_t hash3(const unsigned char *p) {
    uint32_t key = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return (key * 2654435761u) >> (32 - HASH_BITS);
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_word(unsigned char c) {
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static void free_markers(Markers *m) {
    for (int i = 0; i < m->pattern_count; i++) PyMem_Free(m->patterns[i].bytes);
    m->pattern_count = 0;
}

static void free_config(void) {
    free_markers(&line_markers);
    for (int i = 0; i < mnemonic_count; i++) PyMem_Free(mnemonics[i]);
    mnemonic_count = 0;
    configured = 0;
}

/* How common a byte is in a log, from rare (0) to common (4). */
static int commonness(unsigned char c) {
    if (c == '%' || c == '=' || c == '#') return 0;
    if (c >= 'A' && c <= 'Z') return 1;
    if (is_digit(c) || (c >= 'a' && c <= 'z')) return 3;
    if (c == ' ') return 4;
    return 2;
}

/* The 3-byte window holding the anchor at `anchor` (`pair`: of two bytes), without a wildcard:
 * its offset, or -1 if there is none. */
static Py_ssize_t window_of(const unsigned char *bytes, Py_ssize_t length, Py_ssize_t anchor,
                            int pair) {
    for (Py_ssize_t w = anchor; w >= 0 && w >= anchor + pair - 2; w--) {
        if (w + 3 > length) continue;
        if (bytes[w] != ANY_DIGIT && bytes[w + 1] != ANY_DIGIT && bytes[w + 2] != ANY_DIGIT)
            return w;
    }
    return -1;
}

/* The anchor of a pattern (its offset; *pair: whether it is two bytes): its first rare byte,
 * else its rarest pair, of those a window without a wildcard holds. Returns the window's
 * offset, or -1 if no anchor has one. */
static Py_ssize_t pick_anchor(const unsigned char *bytes, Py_ssize_t length, Py_ssize_t *anchor,
                              int *pair) {
    Py_ssize_t best = -1, window = -1;
    int best_cost = 1 << 30;
    for (Py_ssize_t i = 0; i < length; i++) {
        if (bytes[i] == ANY_DIGIT) continue;
        Py_ssize_t w;
        if (commonness(bytes[i]) == 0 && (w = window_of(bytes, length, i, 0)) >= 0) {
            *anchor = i, *pair = 0;
            return w;
        }
        if (i + 1 < length && bytes[i + 1] != ANY_DIGIT) {
            int cost = commonness(bytes[i]) + commonness(bytes[i + 1]);
            if (cost < best_cost && (w = window_of(bytes, length, i, 1)) >= 0)
                best = i, best_cost = cost, window = w;
        }
    }
    if (best < 0) return -1;
    *anchor = best, *pair = 1;
    return window;
}

static int add_anchor(Markers *m, int first_byte, int second_byte) {
    for (int i = 0; i < m->anchor_count; i++)
        if (m->anchor_first[i] == first_byte && m->anchor_second[i] == second_byte) return 0;
    if (m->anchor_count == MAX_ANCHORS) return -1;
    unsigned char bit = (unsigned char)(1u << (m->anchor_count % 8));
    m->lo0[first_byte & 15] |= bit;
    m->hi0[first_byte >> 4] |= bit;
    for (int n = 0; n < 16; n++) {
        if (second_byte < 0 || (second_byte & 15) == n) m->lo1[n] |= bit;
        if (second_byte < 0 || (second_byte >> 4) == n) m->hi1[n] |= bit;
    }
    m->anchor_first[m->anchor_count] = first_byte;
    m->anchor_second[m->anchor_count] = second_byte;
    m->anchor_count++;
    if (second_byte < 0) {
        memset(&m->single_v[m->single_count++], first_byte, 16);
    } else {
        memset(&m->pair_v0[m->pair_count], first_byte, 16);
        memset(&m->pair_v1[m->pair_count++], second_byte, 16);
    }
    return 0;
}

/* m from a list of bytes, or of (bytes, kind) with `kinds`: 0, or -1 with an exception set. */
static int build_markers(Markers *m, PyObject *list, int kinds) {
    Py_ssize_t count = PyList_GET_SIZE(list);
    memset(m, 0, sizeof *m);
    if (count > MAX_PATTERNS) {
        PyErr_SetString(PyExc_ValueError, "too many patterns");
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *bytes;
        Py_ssize_t length;
        int kind = KIND_SURE;
        PyObject *item = PyList_GET_ITEM(list, i);
        if (kinds ? !PyArg_ParseTuple(item, "y#i", &bytes, &length, &kind)
                  : PyBytes_AsStringAndSize(item, (char **)&bytes, &length) < 0)
            goto fail;
        Py_ssize_t anchor;
        int pair;
        const unsigned char *ubytes = (const unsigned char *)bytes;
        Py_ssize_t window = pick_anchor(ubytes, length, &anchor, &pair);
        if (window < 0 || (kind != KIND_SURE && kind != KIND_NOISY)) {
            PyErr_SetString(PyExc_ValueError,
                            "a pattern needs 3 bytes without wildcards around its anchor");
            goto fail;
        }
        if (add_anchor(m, ubytes[anchor], pair ? ubytes[anchor + 1] : -1) < 0) {
            PyErr_SetString(PyExc_ValueError, "too many anchors");
            goto fail;
        }
        m->window_back[ubytes[anchor]] |= (unsigned char)(1u << (anchor - window));
        Pattern *p = &m->patterns[m->pattern_count];
        p->bytes = PyMem_Malloc(length);
        if (p->bytes == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(p->bytes, bytes, length);
        p->length = length;
        p->window = window;
        p->kind = kind;
        if (length > m->longest) m->longest = length;
        m->pattern_count++;
    }
    /* The filter and the patterns of each hash, by counting sort. */
    uint32_t hashes[MAX_PATTERNS];
    for (int i = 0; i < m->pattern_count; i++) {
        hashes[i] = hash3(m->patterns[i].bytes + m->patterns[i].window);
        m->filter[hashes[i] >> 3] |= (unsigned char)(1u << (hashes[i] & 7));
        m->first[hashes[i] + 1]++;
    }
    for (uint32_t h = 0; h < (1u << HASH_BITS); h++) m->first[h + 1] += m->first[h];
    uint16_t *fill = PyMem_RawMalloc(sizeof m->first);
    if (fill == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    memcpy(fill, m->first, sizeof m->first);
    for (int i = 0; i < m->pattern_count; i++) m->by_hash[fill[hashes[i]]++] = (uint16_t)i;
    PyMem_RawFree(fill);
    return 0;
fail:
    free_markers(m);
    return -1;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *pattern_list, *mnemonic_list;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &pattern_list, &PyList_Type,
                          &mnemonic_list))
        return NULL;
    if (PyList_GET_SIZE(mnemonic_list) > MAX_MNEMONICS) {
        PyErr_SetString(PyExc_ValueError, "too many mnemonics");
        return NULL;
    }
    /* Once: a pass (without the GIL) may be reading the markers at any time after. */
    if (configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was called already");
        return NULL;
    }
    free_config();
    if (build_markers(&line_markers, pattern_list, 1) < 0) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(mnemonic_list); i++) {
        const char *bytes;
        Py_ssize_t length;
        PyObject *item = PyList_GET_ITEM(mnemonic_list, i);
        if (PyBytes_AsStringAndSize(item, (char **)&bytes, &length) < 0) goto fail;
        mnemonics[mnemonic_count] = PyMem_Malloc(length ? length : 1);
        if (mnemonics[mnemonic_count] == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(mnemonics[mnemonic_count], bytes, length);
        mnemonic_lengths[mnemonic_count++] = length;
    }
    configured = 1;
    Py_RETURN_NONE;
fail:
    free_config();
    return NULL;
}

/* Whether pattern p is at `at`, wholly before `end`. */
static inline int pattern_at(const Pattern *p, const unsigned char *at,
                             const unsigned char *start, const unsigned char *end) {
    if (at < start || end - at < p->length) return 0;
    for (Py_ssize_t i = 0; i < p->length; i++) {
        unsigned char want = p->bytes[i];
        if (want == ANY_DIGIT ? !is_digit(at[i]) : at[i] != want) return 0;
    }
    return 1;
}

/* Case-insensitive: whether lower-case `word` starts at p, before end. */
static inline int starts_ci(const unsigned char *p, const unsigned char *end, const char *word) {
    for (; *word; word++, p++)
        if (p >= end || lower(*p) != (unsigned char)*word) return 0;
    return 1;
}

static const unsigned char *find(const unsigned char *p, const unsigned char *end,
                                 const char *word) {
    size_t length = strlen(word);
    if (end - p < (Py_ssize_t)length) return NULL;
    return memmem(p, end - p, word, length);
}

/* Where the last of two words starts in a line, found once per line however many denies it
 * holds (a search per deny would be quadratic in a line of denies). */
typedef struct {
    const char *word, *other;
    const unsigned char *last; /* NULL: neither is in the line */
    int known;
} Last;

static const unsigned char *last_of(Last *l, const unsigned char *s, const unsigned char *e) {
    if (!l->known) {
        l->known = 1;
        for (const unsigned char *at = find(s, e, l->word); at; at = find(at + 1, e, l->word))
            l->last = at;
        for (const unsigned char *at = find(s, e, l->other); at; at = find(at + 1, e, l->other))
            if (l->last == NULL || at > l->last) l->last = at;
    }
    return l->last;
}

/* After a deny's verb: ESP, AH, 50 or 51, or UDP with one of `ports` further on, each followed
 * by `then` (IOS "denied esp ", ASA "deny esp src "), in any case. */
static int ipsec_deny(const unsigned char *q, const unsigned char *s, const unsigned char *e,
                      const char *then, Last *ports) {
    static const char *const protocols[] = {"esp", "ah", "50", "51"};
    for (int i = 0; i < 4; i++)
        if (starts_ci(q, e, protocols[i]) && starts_ci(q + strlen(protocols[i]), e, then))
            return 1;
    if (!starts_ci(q, e, "udp") || !starts_ci(q + 3, e, then)) return 0;
    const unsigned char *port = last_of(ports, s, e);
    return port != NULL && port >= q + 3 + strlen(then);
}

/* At "-D-": whether the whole word after it is a mnemonic a recogniser reads. */
static int read_tag(const unsigned char *w, const unsigned char *e) {
    const unsigned char *t = w;
    while (t < e && is_word(*t)) t++;
    for (int i = 0; i < mnemonic_count; i++)
        if (t - w == mnemonic_lengths[i] && memcmp(w, mnemonics[i], t - w) == 0) return 1;
    return 0;
}

/* At "%": an %ASA, %FTD or %PIX that is not "-D-MNEMONIC" then ':' or ' ' (the line may be
 * left to the tagless formats, which markers.line_is_read looks into). */
static int odd_asa_tag(const unsigned char *q, const unsigned char *e) {
    if (e - q < 4 || !(memcmp(q + 1, "ASA", 3) == 0 || memcmp(q + 1, "FTD", 3) == 0 ||
                       memcmp(q + 1, "PIX", 3) == 0))
        return 0;
    const unsigned char *t = q + 4;
    if (e - t < 4 || t[0] != '-' || !is_digit(t[1]) || t[2] != '-') return 1;
    const unsigned char *w = t + 3;
    while (w < e && (is_digit(*w) || (*w >= 'A' && *w <= 'Z') || *w == '_')) w++;
    return w == t + 3 || w == e || (*w != ':' && *w != ' ');
}

/* Whether a line of a noisy family could make an event: a superset of the checks of
 * markers._noisy_is_read, in one pass over the line. */
static int noisy_maybe(const unsigned char *s, const unsigned char *e) {
    v16 below, dash, d, e_, n, percent, amp, lt, tick, del, fold;
    memset(&below, 0x20, 16), memset(&dash, '-', 16), memset(&d, 'd', 16), memset(&e_, 'e', 16);
    memset(&n, 'n', 16), memset(&percent, '%', 16), memset(&amp, '&', 16), memset(&lt, '<', 16);
    memset(&tick, '`', 16), memset(&del, 0x7f, 16), memset(&fold, 0x20, 16);
    Last ios_ports = {"(500)", "(4500)", NULL, 0}, asa_ports = {"/500", "/4500", NULL, 0};
    const unsigned char *plain = s; /* bytes before it hold nothing of interest */
    for (const unsigned char *q = s; q < e; q++) {
        if (q >= plain && e - q >= 18) {
            /* What the cases below look at: a byte to rewrite, "-?-", "den" in any case, "%". */
            v16 v0, v1, v2;
            memcpy(&v0, q, 16), memcpy(&v1, q + 1, 16), memcpy(&v2, q + 2, 16);
            m16 m = (m16)(v0 < below) | (m16)(v0 >= del) | (m16)(v0 == percent) |
                    (m16)(v0 == amp) | (m16)(v0 == lt) | (m16)(v0 == tick) |
                    ((m16)(v0 == dash) & (m16)(v2 == dash)) |
                    ((m16)((v0 | fold) == d) & (m16)((v1 | fold) == e_) &
                     (m16)((v2 | fold) == n));
            uint64_t halves[2];
            memcpy(halves, &m, 16);
            if (!(halves[0] | halves[1])) {
                q += 15;
                continue;
            }
            plain = q + 16; /* look at these 16 one by one */
        }
        switch (look[*q]) {
        case 0:
            continue;
        case LOOK_REWRITTEN:
            /* & only before a letter or # (a character reference), < only before what opens
             * a Slack link or mention (not a syslog PRI such as <189>), a carriage return
             * only inside the line. */
            if (*q == '&' && !(q + 1 < e && (is_word(q[1]) || q[1] == '#'))) continue;
            if (*q == '<' && !(q + 1 < e && q[1] && strchr("hmft@#!", q[1]))) continue;
            if (*q == '\r' && q + 1 == e) continue;
            return 1;
        case LOOK_DASH:
            if (e - q > 3 && is_digit(q[1]) && q[2] == '-' && read_tag(q + 3, e)) return 1;
            continue;
        case LOOK_D:
            if (e - q > 7 && memcmp(q, "denied ", 7) == 0 &&
                ipsec_deny(q + 7, s, e, " ", &ios_ports))
                return 1;
            if (starts_ci(q, e, "deny ")) {
                const unsigned char *r = q + 5;
                if (starts_ci(r, e, "protocol ")) r += 9;
                if (ipsec_deny(r, s, e, " src ", &asa_ports)) return 1;
            }
            continue;
        case LOOK_PERCENT:
            if (odd_asa_tag(q, e)) return 1;
            continue;
        }
    }
    return 0;
}


/* ---- The commonest lines, read whole here: the same grammar as kb/formats.py's _FAST ----
 *
 * A framing (none, a router's time, or a collector's ISO time and host) and an IOS
 * %CRYPTO-4-RECVD_PKT_INV_SPI or ASA/FTD 402114/402119/402120 message, in printable ASCII that
 * clean_line leaves alone. Every run is read as _FAST's possessive runs read it; a line that
 * strays from the grammar anywhere is left to Python (fast_line and recognise), never guessed.
 */
typedef struct {
    const unsigned char *p, *e;
} Text;

typedef struct {
    const unsigned char *start, *stop;
} Span;

static inline int take(Text *t, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(t->e - t->p) < n || memcmp(t->p, word, n) != 0) return 0;
    t->p += n;
    return 1;
}

static inline int take_char(Text *t, unsigned char c) {
    if (t->p < t->e && *t->p == c) {
        t->p++;
        return 1;
    }
    return 0;
}

/* Digits, at most `most` of them (a possessive run): how many were taken. */
static inline int take_digits(Text *t, int most) {
    int n = 0;
    while (n < most && t->p < t->e && is_digit(*t->p)) t->p++, n++;
    return n;
}

static inline int take_spaces(Text *t) {
    int n = 0;
    while (t->p < t->e && *t->p == ' ') t->p++, n++;
    return n;
}

/* (\d{1,3}+\.){3}\d{1,3}+ */
static int take_ipv4(Text *t, Span *out) {
    out->start = t->p;
    for (int i = 0; i < 4; i++) {
        if (take_digits(t, 3) == 0) return 0;
        if (i < 3 && !take_char(t, '.')) return 0;
    }
    out->stop = t->p;
    return 1;
}

/* Word ending: the byte at p is no [A-Za-z0-9_] (or there is none). */
static inline int word_ends(const Text *t) { return t->p >= t->e || !is_word(*t->p); }

/* (?:\s?(?:[A-Z]{2,5}|[+-]\d\d:?\d\d)\b)? after a router's time. */
static void take_router_zone(Text *t) {
    for (int space = 1; space >= 0; space--) {
        Text z = *t;
        if (space && !take_char(&z, ' ')) continue;
        const unsigned char *at = z.p;
        while (z.p < z.e && *z.p >= 'A' && *z.p <= 'Z') z.p++;
        if (z.p - at >= 2 && z.p - at <= 5 && word_ends(&z)) {
            *t = z;
            return;
        }
        z.p = at;
        if (take_char(&z, '+') || take_char(&z, '-')) {
            if (take_digits(&z, 2) == 2) {
                Text colon = z;
                if (take_char(&colon, ':') && take_digits(&colon, 2) == 2 && word_ends(&colon)) {
                    *t = colon;
                    return;
                }
                if (take_digits(&z, 2) == 2 && word_ends(&z)) {
                    *t = z;
                    return;
                }
            }
        }
        return; /* without the space, the zone would start at the space: no zone */
    }
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* \d\d:\d\d:\d\d(?:\.\d++)? */
static int take_clock(Text *t) {
    if (take_digits(t, 2) != 2 || !take_char(t, ':') || take_digits(t, 2) != 2 ||
        !take_char(t, ':') || take_digits(t, 2) != 2)
        return 0;
    Text frac = *t;
    if (take_char(&frac, '.') && take_digits(&frac, 1 << 30) > 0) *t = frac;
    return 1;
}

/* (?:<\d{1,3}+>\d++: )?[*.]?STAMP:? *+ up to the end: the time. */
static int router_framing(Text t, Span *time) {
    if (take_char(&t, '<')) {
        if (take_digits(&t, 3) == 0 || !take_char(&t, '>') || take_digits(&t, 1 << 30) == 0 ||
            !take(&t, ": "))
            return 0;
    }
    if (!take_char(&t, '*')) take_char(&t, '.');
    time->start = t.p;
    int month = 0;
    for (; month < 12; month++)
        if (take(&t, months[month])) break;
    if (month == 12 || take_spaces(&t) == 0) return 0;
    if (take_digits(&t, 2) == 0 || take_spaces(&t) == 0) return 0;
    Text year = t;
    if (take_digits(&year, 4) == 4 && take_spaces(&year) > 0) t = year;
    if (!take_clock(&t)) return 0;
    take_router_zone(&t);
    time->stop = t.p;
    take_char(&t, ':');
    take_spaces(&t);
    return t.p == t.e;
}

/* ISO ++HOST ++ up to the end: the time and the host. */
static int collector_framing(Text t, Span *time, Span *host) {
    time->start = t.p;
    if (take_digits(&t, 4) != 4 || !take_char(&t, '-') || take_digits(&t, 2) != 2 ||
        !take_char(&t, '-') || take_digits(&t, 2) != 2 ||
        !(take_char(&t, 'T') || take_char(&t, ' ')) || !take_clock(&t))
        return 0;
    if (!take_char(&t, 'Z')) {
        Text z = t;
        take_char(&z, ' ');
        if ((take_char(&z, '+') || take_char(&z, '-')) && take_digits(&z, 2) == 2) {
            Text colon = z;
            if (take_char(&colon, ':') && take_digits(&colon, 2) == 2) t = colon;
            else if (take_digits(&z, 2) == 2) t = z;
        }
    }
    time->stop = t.p;
    if (take_spaces(&t) == 0) return 0;
    host->start = t.p;
    if (t.p >= t.e || !is_word(*t.p) || *t.p == '_') return 0;
    while (t.p < t.e && (is_word(*t.p) || *t.p == '.' || *t.p == '-')) t.p++;
    host->stop = t.p;
    return take_spaces(&t) > 0 && t.p == t.e;
}

/* [!-%'-+\--;>-_a-~]: printable ASCII but for space & , < = and backtick. */
static inline int iface_byte(unsigned char c) {
    return c > ' ' && c < 0x7f && c != '&' && c != ',' && c != '<' && c != '=' && c != '`';
}

/* [ -%'-;>-_a-~]: printable ASCII but for & < = and backtick. */
static inline int printable_byte(unsigned char c) {
    return c >= ' ' && c < 0x7f && c != '&' && c != '<' && c != '=' && c != '`';
}

static inline int upper_hex(unsigned char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }

/* 0x[0-9A-F]{8}: its value. */
static int take_spi(Text *t, Span *out, uint32_t *value) {
    out->start = t->p;
    if (!take(t, "0x") || t->e - t->p < 8) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        unsigned char c = t->p[i];
        if (!upper_hex(c)) return 0;
        v = v << 4 | (uint32_t)(is_digit(c) ? c - '0' : c - 'A' + 10);
    }
    t->p += 8;
    out->stop = t->p;
    *value = v;
    return 1;
}

enum { FAST_IOS = 1, FAST_ASA };

typedef struct {
    int shape;
    Span time, host, local, peer, spi, iface;
    int prot51;           /* IOS: prot=51 (AH) */
    uint32_t decimal;     /* IOS */
    int facility_ftd;     /* ASA: FTD rather than ASA */
    int mnemonic;         /* ASA: 0 402114, 1 402119, 2 402120 */
    int ah;               /* ASA: an AH packet */
} Fast;

static int ios_body(Text t, Fast *f) {
    if (!take(&t, "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
                  "destaddr=") ||
        !take_ipv4(&t, &f->local) || !take(&t, ", prot=5"))
        return 0;
    if (take_char(&t, '1')) f->prot51 = 1;
    else if (take_char(&t, '0')) f->prot51 = 0;
    else return 0;
    uint32_t hex;
    if (!take(&t, ", spi=") || !take_spi(&t, &f->spi, &hex) || !take_char(&t, '(')) return 0;
    const unsigned char *digits = t.p;
    int n = take_digits(&t, 10);
    if (n == 0 || !take_char(&t, ')')) return 0;
    uint64_t decimal = 0;
    for (int i = 0; i < n; i++) decimal = decimal * 10 + (uint64_t)(digits[i] - '0');
    if (decimal != hex) return 0; /* also over 32 bits: the recogniser says what is wrong */
    f->decimal = hex;
    if (!take(&t, ", srcaddr=") || !take_ipv4(&t, &f->peer)) return 0;
    f->iface.start = f->iface.stop = NULL;
    if (t.p < t.e) {
        if (!take(&t, ", input interface=")) return 0;
        f->iface.start = t.p;
        while (t.p < t.e && iface_byte(*t.p)) t.p++;
        f->iface.stop = t.p;
        if (f->iface.stop == f->iface.start) return 0;
    }
    if (t.p != t.e) return 0;
    f->shape = FAST_IOS;
    return 1;
}

static int asa_body(Text t, Fast *f) {
    if (take(&t, "%ASA-4-4021")) f->facility_ftd = 0;
    else if (take(&t, "%FTD-4-4021")) f->facility_ftd = 1;
    else return 0;
    if (take(&t, "14")) f->mnemonic = 0;
    else if (take(&t, "19")) f->mnemonic = 1;
    else if (take(&t, "20")) f->mnemonic = 2;
    else return 0;
    if (!take(&t, ": IPSEC: Received a")) return 0;
    take_char(&t, 'n');
    if (!take_char(&t, ' ')) return 0;
    if (take(&t, "ESP")) f->ah = 0;
    else if (take(&t, "AH")) f->ah = 1;
    else return 0;
    uint32_t hex;
    if (!take(&t, " packet (SPI=")) return 0;
    take_char(&t, ' ');
    if (!take_spi(&t, &f->spi, &hex) || !take(&t, ", sequence number=")) return 0;
    take_char(&t, ' ');
    const unsigned char *run = t.p;
    while (t.p < t.e && is_word(*t.p) && *t.p != '_') t.p++;
    if (t.p == run || !take(&t, ") from ") || !take_ipv4(&t, &f->peer) || !take(&t, " to ") ||
        !take_ipv4(&t, &f->local))
        return 0;
    if (t.p < t.e) {
        if (*t.p != ' ' || t.e[-1] == ' ') return 0;
        for (const unsigned char *q = t.p; q < t.e; q++)
            if (!printable_byte(*q)) return 0;
    }
    f->shape = FAST_ASA;
    return 1;
}

/* Whether the line [s, e) is one of the commonest shapes, and its parts. */
static int fast_line(const unsigned char *s, const unsigned char *e, Fast *f) {
    const unsigned char *tag = memchr(s, '%', e - s);
    if (tag == NULL) return 0;
    Text body = {tag, e};
    memset(f, 0, sizeof *f);
    if (!(ios_body(body, f) || asa_body(body, f))) return 0;
    if (tag == s) return 1;
    Text framing = {s, tag};
    return router_framing(framing, &f->time) || collector_framing(framing, &f->time, &f->host);
}

/* How a found line is to be read. */
enum { FOUND_READ, FOUND_MAYBE /* if line_is_read says so */, FOUND_WHOLE /* read here */ };

typedef struct {
    Py_ssize_t start, stop, number;
    int how;
    Fast fast;
} Found;

typedef struct {
    Found *items;
    Py_ssize_t count, size;
} Founds;

static Found *add(Founds *f, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t number, int how) {
    if (f->count == f->size) {
        Py_ssize_t size = f->size ? f->size * 2 : 1024;
        /* realloc, not PyMem_RawRealloc: a Pass's thread must never need the GIL, which
         * tracemalloc's hook on Python's allocators takes. */
        Found *items = realloc(f->items, size * sizeof(Found));
        if (items == NULL) return NULL;
        f->items = items;
        f->size = size;
    }
    Found *found = &f->items[f->count++];
    found->start = start, found->stop = stop, found->number = number, found->how = how;
    return found;
}

/* The start of the line holding p, no earlier than lo. */
static const unsigned char *line_start(const unsigned char *lo, const unsigned char *p) {
#ifdef __GLIBC__
    const unsigned char *newline = memrchr(lo, '\n', p - lo);
    return newline ? newline + 1 : lo;
#else
    while (p > lo && p[-1] != '\n') p--;
    return p;
#endif
}

static Py_ssize_t count_newlines(const unsigned char *p, const unsigned char *end) {
    Py_ssize_t n = 0;
    v16 newline;
    memset(&newline, '\n', sizeof newline);
    while (end - p >= 16) {
        /* Each lane counts to at most 255 before it is added up. */
        v16 lanes = {0};
        Py_ssize_t blocks = (end - p) / 16;
        if (blocks > 255) blocks = 255;
        for (Py_ssize_t b = 0; b < blocks; b++, p += 16) {
            v16 v;
            memcpy(&v, p, 16);
            lanes -= (v16)(v == newline); /* a match is 255: minus it adds one, mod 256 */
        }
        unsigned char counts[16];
        memcpy(counts, &lanes, 16);
        for (int i = 0; i < 16; i++) n += counts[i];
    }
    for (; p < end; p++) n += *p == '\n';
    return n;
}


/* ---- Events built here for the fast lines: kb.events.Event, its slots set directly ---- */
static PyTypeObject *event_type;
enum {
    F_KIND, F_PLATFORM, F_TAG, F_PEER, F_LOCAL, F_SPI, F_SPI_DECIMAL, F_SPI_CONSISTENT,
    F_PROTOCOL, F_INTERFACE, F_DEVICE, F_TIME, F_LINE, F_DETAIL, F_PROBLEMS, F_TEXT, FIELDS
};
static const char *const field_names[FIELDS] = {
    "kind", "platform", "tag", "peer", "local", "spi", "spi_decimal", "spi_consistent",
    "protocol", "interface", "device", "time", "line", "detail", "problems", "text"};
static Py_ssize_t field_offsets[FIELDS];
/* The words an event of these lines holds, from kb/formats.py (configure_events). */
enum {
    W_INVALID_SPI, W_REPLAY_ERROR, W_MAC_ERROR, W_IOS, W_ASA, W_FTD, W_ESP, W_AH, W_IOS_TAG, WORDS
};
static PyObject *words[WORDS];
static PyObject *asa_tags[2][3]; /* %ASA-4-402114 ... %FTD-4-402120 */
static Py_ssize_t max_line_chars;
static int events_configured;

static PyObject *configure_events(PyObject *self, PyObject *args) {
    PyObject *type, *given;
    Py_ssize_t max_chars;
    if (!PyArg_ParseTuple(args, "O!O!n", &PyType_Type, &type, &PyTuple_Type, &given, &max_chars))
        return NULL;
    if (PyTuple_GET_SIZE(given) != WORDS) {
        PyErr_Format(PyExc_ValueError, "%d words expected", WORDS);
        return NULL;
    }
    /* Every slot is one written here: an Event with a slot more would be built half. */
    PyObject *slots = PyObject_GetAttrString(type, "__slots__");
    Py_ssize_t slot_count = slots && PyTuple_Check(slots) ? PyTuple_GET_SIZE(slots) : -1;
    Py_XDECREF(slots);
    if (slot_count != FIELDS) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "the event type must have exactly %d slots", FIELDS);
        return NULL;
    }
    if (events_configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure_events() was called already");
        return NULL;
    }
    Py_ssize_t offsets[FIELDS];
    for (int i = 0; i < FIELDS; i++) {
        /* Each field must be a slot holding any object: then it is written as Python would. */
        PyObject *descr = PyObject_GetAttrString(type, field_names[i]);
        if (descr == NULL) return NULL;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok) offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot", field_names[i]);
            return NULL;
        }
    }
    for (int i = 0; i < WORDS; i++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(given, i))) {
            PyErr_SetString(PyExc_TypeError, "words must be str");
            return NULL;
        }
    static const char *const families[2] = {"ASA", "FTD"}, *const numbers[3] = {"14", "19", "20"};
    PyObject *tags[2][3];
    for (int f = 0; f < 2; f++)
        for (int m = 0; m < 3; m++)
            if ((tags[f][m] = PyUnicode_FromFormat("%%%s-4-4021%s", families[f], numbers[m])) ==
                NULL) {
                for (int g = 0; g < f * 3 + m; g++) Py_DECREF(tags[g / 3][g % 3]);
                return NULL;
            }
    events_configured = 0;
    Py_XDECREF(event_type);
    event_type = (PyTypeObject *)Py_NewRef(type);
    memcpy(field_offsets, offsets, sizeof offsets);
    for (int i = 0; i < WORDS; i++) Py_XSETREF(words[i], Py_NewRef(PyTuple_GET_ITEM(given, i)));
    for (int f = 0; f < 2; f++)
        for (int m = 0; m < 3; m++) Py_XSETREF(asa_tags[f][m], tags[f][m]);
    max_line_chars = max_chars;
    events_configured = 1;
    Py_RETURN_NONE;
}

static PyObject *span_text(Span span) {
    if (span.start == NULL) Py_RETURN_NONE;
    return PyUnicode_DecodeASCII((const char *)span.start, span.stop - span.start, NULL);
}

/* An IPv4 address as canonical_ip gives it: the same text, or None for an octet over 255 or
 * with a leading zero (which ipaddress refuses). */
static PyObject *ipv4_text(Span span) {
    const unsigned char *p = span.start;
    while (p < span.stop) {
        const unsigned char *q = p;
        int value = 0;
        while (q < span.stop && *q != '.') value = value * 10 + (*q++ - '0');
        if (value > 255 || (q - p > 1 && *p == '0')) Py_RETURN_NONE;
        p = q + 1;
    }
    return span_text(span);
}

/* The line's text; ASA's "= " closed up to "=" as clean_line does. */
static PyObject *line_text(const unsigned char *s, const unsigned char *e, int close_up) {
    if (!close_up || !find(s, e, "= "))
        return PyUnicode_DecodeASCII((const char *)s, e - s, NULL);
    char *out = PyMem_Malloc(e - s);
    if (out == NULL) return PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (const unsigned char *q = s; q < e; q++)
        if (!(*q == ' ' && q > s && q[-1] == '=')) out[n++] = (char)*q;
    /* Decoded as ASCII again: a bytearray changed by another thread meanwhile is an error,
     * never a broken str. */
    PyObject *text = PyUnicode_DecodeASCII(out, n, NULL);
    PyMem_Free(out);
    return text;
}

static PyObject *new_event(const unsigned char *data, const Found *found) {
    const Fast *f = &found->fast;
    const unsigned char *s = data + found->start, *e = data + found->stop;
    PyObject *values[FIELDS];
    int ios = f->shape == FAST_IOS;
    static const int kinds[3] = {W_INVALID_SPI, W_REPLAY_ERROR, W_MAC_ERROR}; /* IOS: 0 */
    values[F_KIND] = Py_NewRef(words[kinds[f->mnemonic]]);
    values[F_PLATFORM] = Py_NewRef(words[ios ? W_IOS : f->facility_ftd ? W_FTD : W_ASA]);
    values[F_TAG] = Py_NewRef(ios ? words[W_IOS_TAG] : asa_tags[f->facility_ftd][f->mnemonic]);
    values[F_PEER] = ipv4_text(f->peer);
    values[F_LOCAL] = ipv4_text(f->local);
    values[F_SPI] = span_text(f->spi);
    values[F_SPI_DECIMAL] = ios ? PyLong_FromUnsignedLong(f->decimal) : Py_NewRef(Py_None);
    values[F_SPI_CONSISTENT] = Py_NewRef(ios ? Py_True : Py_None);
    values[F_PROTOCOL] = Py_NewRef(words[(ios ? f->prot51 : f->ah) ? W_AH : W_ESP]);
    values[F_INTERFACE] = span_text(f->iface);
    values[F_DEVICE] = span_text(f->host);
    values[F_TIME] = span_text(f->time);
    values[F_LINE] = PyLong_FromSsize_t(found->number);
    values[F_DETAIL] = Py_NewRef(Py_None);
    values[F_PROBLEMS] = PyList_New(0);
    values[F_TEXT] = line_text(s, e, !ios);
    PyObject *event = NULL;
    for (int i = 0; i < FIELDS; i++)
        if (values[i] == NULL) goto done;
    event = event_type->tp_alloc(event_type, 0);
    if (event == NULL) goto done;
    /* An event holds strings, numbers and an empty list of problems (which only strings
     * join): it can be part of no reference cycle, so the cycle collector need not walk it.
     * A scan keeps tens of thousands of them: walked, they cost as much as building them. */
    PyObject_GC_UnTrack(values[F_PROBLEMS]);
    for (int i = 0; i < FIELDS; i++) {
        *(PyObject **)((char *)event + field_offsets[i]) = values[i];
        values[i] = NULL;
    }
    PyObject_GC_UnTrack(event);
done:
    for (int i = 0; i < FIELDS; i++) Py_XDECREF(values[i]);
    return event;
}

/* The kinds of the markers whose window starts `back` bytes before a (kinds in `want` only),
 * within [lo, hi); *start, if given, becomes the earliest start of one of them. */
static inline int markers_at(const Markers *m, const unsigned char *a, int back,
                             const unsigned char *lo, const unsigned char *hi, int want,
                             const unsigned char **start) {
    if (a - lo < back || hi - a + back < 3) return 0;
    const unsigned char *w = a - back;
    uint32_t h = hash3(w);
    if (!(m->filter[h >> 3] & (1u << (h & 7)))) return 0;
    int kind = 0;
    for (int i = m->first[h]; i < m->first[h + 1]; i++) {
        const Pattern *pat = &m->patterns[m->by_hash[i]];
        if (w - lo < pat->window) continue;
        const unsigned char *at = w - pat->window;
        if ((pat->kind & want) && pattern_at(pat, at, lo, hi)) {
            kind |= pat->kind;
            if (start && (*start == NULL || at < *start)) *start = at;
        }
    }
    return kind;
}

/* The lanes of m that are set, as bits. */
static inline unsigned lanes_set(m16 m) {
#ifdef __SSE2__
    return (unsigned)_mm_movemask_epi8((__m128i)m);
#else
    unsigned char lanes[16];
    unsigned bits = 0;
    memcpy(lanes, &m, 16);
    for (int i = 0; i < 16; i++) bits |= (unsigned)(lanes[i] != 0) << i;
    return bits;
#endif
}

/* Whether an anchor starts at p (which has a byte after it, unless p is the last before hi). */
static inline int anchored(const Markers *m, const unsigned char *p, const unsigned char *hi) {
    for (int i = 0; i < m->anchor_count; i++)
        if (*p == m->anchor_first[i] &&
            (m->anchor_second[i] < 0 || (p + 1 < hi && p[1] == m->anchor_second[i])))
            return 1;
    return 0;
}

/* The anchors of m among the 16 positions from p (bit i: maybe one at p + i; none is missed),
 * by the nibble tables: SSSE3's pshufb or NEON's tbl do each lookup for 16 bytes at once. */
/* GCC's __builtin_shuffle (clang has none of that name: it compares with each anchor). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NIBBLES 1
__attribute__((target("ssse3")))
#elif defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)
#define NIBBLES 1
#endif
#ifdef NIBBLES
static unsigned nibble_hits(const Markers *m, const unsigned char *p) {
    v16 v0, v1, low;
    memcpy(&v0, p, 16);
    memcpy(&v1, p + 1, 16);
    memset(&low, 15, 16);
    v16 first = __builtin_shuffle(m->lo0, v0 & low) & __builtin_shuffle(m->hi0, v0 >> 4);
    v16 second = __builtin_shuffle(m->lo1, v1 & low) & __builtin_shuffle(m->hi1, v1 >> 4);
    v16 zero = {0};
    return lanes_set((m16)((first & second) != zero));
}
static int nibbles;   /* nibble_hits is used (set when the module loads) */
static int was_able; /* the CPU has what nibble_hits needs */
#endif

/* The first marker of m (of the kinds in `want`) with its anchor in [p, hi), within [lo, hi):
 * sets *kind (and *start, if given, to the earliest start of a marker of that anchor) and
 * returns the anchor's position, or NULL. Bytes up to `limit` may be read. */
static const unsigned char *next_marker(const Markers *m, const unsigned char *p,
                                        const unsigned char *lo, const unsigned char *hi,
                                        const unsigned char *limit, int want, int *kind,
                                        const unsigned char **start) {
    while (p < hi) {
        unsigned hits = 0; /* bit i: an anchor at p + i */
        int n = hi - p < 16 ? (int)(hi - p) : 16;
#ifdef NIBBLES
        if (nibbles && limit - p > 16) {
            hits = nibble_hits(m, p) & ((1u << n) - 1);
        } else
#endif
        if (limit - p > 16) { /* 16 bytes and the one after them can be read */
            v16 v0, v1;
            memcpy(&v0, p, 16);
            memcpy(&v1, p + 1, 16);
            m16 found = {0};
            for (int i = 0; i < m->single_count; i++) found |= (m16)(v0 == m->single_v[i]);
            for (int i = 0; i < m->pair_count; i++)
                found |= (m16)(v0 == m->pair_v0[i]) & (m16)(v1 == m->pair_v1[i]);
            hits = lanes_set(found) & ((1u << n) - 1);
        } else {
            for (int i = 0; i < n; i++) hits |= (unsigned)anchored(m, p + i, hi) << i;
        }
        for (; hits; hits &= hits - 1) {
            const unsigned char *a = p + __builtin_ctz(hits);
            unsigned back = m->window_back[*a];
            int k = 0;
            for (int b = 0; b < 3; b++)
                if (back & (1u << b)) k |= markers_at(m, a, b, lo, hi, want, start);
            if (k) {
                *kind = k;
                return a;
            }
        }
        p += n;
    }
    return NULL;
}

/* The pass, without the GIL: lines of data[begin:end] to read. Returns -1 when out of memory. */
static int scan(const unsigned char *data, Py_ssize_t begin, Py_ssize_t end,
                Py_ssize_t first_line, int read_whole, Founds *out, Py_ssize_t *newlines) {
    const unsigned char *base = data + begin, *stop = data + end;
    const unsigned char *counted = base; /* newlines before it are in number */
    Py_ssize_t number = first_line;
    const unsigned char *p = base;
    int kind;
    const unsigned char *line_floor = base; /* the line holding p starts at or after it */
    while ((p = next_marker(&line_markers, p, base, stop, stop, KIND_SURE | KIND_NOISY, &kind,
                            NULL)) != NULL) {
        /* The line p is in: a marker holds no newline, so the window's is this line. */
        const unsigned char *s = line_start(line_floor, p);
        const unsigned char *e = memchr(p, '\n', stop - p);
        if (e == NULL) e = stop;
        int sure_too;
        if (!(kind & KIND_SURE) &&
            next_marker(&line_markers, p + 1, s, e, stop, KIND_SURE, &sure_too, NULL) != NULL)
            kind |= KIND_SURE; /* a sure marker further on in the noisy line */
        int sure = kind & KIND_SURE, maybe = !sure && noisy_maybe(s, e);
        if (sure || maybe) {
            number += count_newlines(counted, s);
            counted = s;
            Found *found = add(out, s - data, e - data, number, maybe ? FOUND_MAYBE : FOUND_READ);
            if (found == NULL) return -1;
            if (sure && read_whole && e - s <= max_line_chars && fast_line(s, e, &found->fast))
                found->how = FOUND_WHOLE;
        }
        if (e == stop) break;
        p = line_floor = e + 1;
    }
    *newlines = number - first_line + count_newlines(counted, stop);
    return 0;
}

/* Whether [start, end) are offsets in the buffer, in order; if not, the buffer is released and
 * the error set. */
static int in_buffer(Py_buffer *view, Py_ssize_t start, Py_ssize_t end) {
    if (start >= 0 && end <= view->len && start <= end) return 1;
    PyBuffer_Release(view);
    PyErr_SetString(PyExc_ValueError, "start and end must be offsets in data, in order");
    return 0;
}

/* The found lines as find_lines returns them, their numbers moved on by `lines_before` (the
 * pass counts from it); frees the items. */
static PyObject *found_list(const unsigned char *data, Founds *found, Py_ssize_t lines_before,
                            Py_ssize_t newlines) {
    PyObject *list = PyList_New(found->count);
    for (Py_ssize_t i = 0; list && i < found->count; i++) {
        Found *f = &found->items[i];
        f->number += lines_before;
        PyObject *item = f->how == FOUND_WHOLE
                             ? new_event(data, f)
                             : Py_BuildValue("(nnnO)", f->start, f->stop, f->number,
                                             f->how == FOUND_MAYBE ? Py_True : Py_False);
        if (item == NULL) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, item);
    }
    free(found->items);
    found->items = NULL;
    found->count = found->size = 0;
    if (list == NULL) return NULL;
    return Py_BuildValue("(Nn)", list, newlines);
}

static PyObject *find_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t begin, end, first_line;
    int read_whole;
    if (!PyArg_ParseTuple(args, "y*nnnp", &view, &begin, &end, &first_line, &read_whole))
        return NULL;
    if (!configured) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (!in_buffer(&view, begin, end)) return NULL;
    Founds found = {NULL, 0, 0};
    Py_ssize_t newlines = 0;
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = scan(view.buf, begin, end, 0, read_whole && events_configured, &found, &newlines);
    Py_END_ALLOW_THREADS
    PyObject *result =
        failed ? PyErr_NoMemory() : found_list(view.buf, &found, first_line, newlines);
    free(found.items);
    PyBuffer_Release(&view);
    return result;
}

/* ---- Pass: find_lines's pass over a buffer, run in a thread of its own ----
 * A big file is read chunk by chunk: while Python reads the lines found in one chunk, the pass
 * over the next runs beside it on another core. The thread touches no Python object (the
 * buffer is held by the Pass until the thread is joined), so it never needs the GIL; building
 * the events, which does, is left to lines(), in the caller's thread. */
typedef struct {
    PyObject_HEAD
    Py_buffer view;
    Py_ssize_t begin, end;
    int read_whole, failed;
    int state; /* PASS_RUNNING: a thread to join, or PASS_DONE */
    int taken; /* lines() was called: view and found are the caller's */
    Founds found;
    Py_ssize_t newlines;
#ifdef PASS_THREADS
    pthread_t thread;
    pid_t process; /* the one the thread runs in: a child forked meanwhile has no such thread */
#endif
} Pass;

enum { PASS_DONE, PASS_RUNNING };

static void run_pass(Pass *p) {
    p->failed = scan(p->view.buf, p->begin, p->end, 0, p->read_whole, &p->found, &p->newlines);
}

#ifdef PASS_THREADS
static void *pass_thread(void *p) {
    run_pass(p);
    return NULL;
}
#endif

/* Waits for the thread, if one runs, without the GIL (the thread never takes it, but others
 * may run meanwhile). In a child forked while it ran there is no thread: its half-done
 * results are dropped and the pass is run again here. */
static void pass_join(Pass *p) {
#ifdef PASS_THREADS
    if (p->state != PASS_RUNNING) return;
    if (p->process == getpid()) {
        Py_BEGIN_ALLOW_THREADS
        pthread_join(p->thread, NULL);
        Py_END_ALLOW_THREADS
    } else {
        free(p->found.items);
        p->found = (Founds){NULL, 0, 0};
        Py_BEGIN_ALLOW_THREADS
        run_pass(p);
        Py_END_ALLOW_THREADS
    }
    p->state = PASS_DONE;
#else
    (void)p;
#endif
}

static PyObject *pass_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Py_buffer view;
    Py_ssize_t begin, end;
    int read_whole;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Pass() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &begin, &end, &read_whole)) return NULL;
    if (!configured) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (!in_buffer(&view, begin, end)) return NULL;
    Pass *p = (Pass *)type->tp_alloc(type, 0);
    if (p == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    p->view = view;
    p->begin = begin, p->end = end;
    p->read_whole = read_whole && events_configured;
    p->state = PASS_DONE;
#ifdef PASS_THREADS
    p->process = getpid();
    if (pthread_create(&p->thread, NULL, pass_thread, p) == 0) {
        p->state = PASS_RUNNING;
        return (PyObject *)p;
    }
#endif
    /* No thread to be had: the pass runs here and now, as find_lines's does. */
    Py_BEGIN_ALLOW_THREADS
    run_pass(p);
    Py_END_ALLOW_THREADS
    return (PyObject *)p;
}

static PyObject *pass_lines(Pass *self, PyObject *args) {
    Py_ssize_t first_line;
    if (!PyArg_ParseTuple(args, "n", &first_line)) return NULL;
    /* Once only, even from another thread while this one waits, or from a finalizer run
     * while the events are built: what is taken is moved out of the Pass first. */
    if (self->taken) {
        PyErr_SetString(PyExc_RuntimeError, "a Pass's lines are taken once");
        return NULL;
    }
    self->taken = 1;
    pass_join(self);
    Founds found = self->found;
    self->found = (Founds){NULL, 0, 0};
    Py_buffer view = self->view;
    PyObject *result = self->failed
                           ? PyErr_NoMemory()
                           : found_list(view.buf, &found, first_line, self->newlines);
    free(found.items);
    PyBuffer_Release(&view);
    return result;
}

static void pass_dealloc(Pass *self) {
    pass_join(self);
    free(self->found.items);
    if (!self->taken) PyBuffer_Release(&self->view);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef pass_methods[] = {
    {"lines", (PyCFunction)pass_lines, METH_VARARGS,
     "lines(first_line) -> (found, newlines): as find_lines(data, begin, end, first_line, "
     "read_whole) gives them, once the pass is done (it waits for it). Once only."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PassType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kb._lines.Pass",
    .tp_basicsize = sizeof(Pass),
    .tp_dealloc = (destructor)pass_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pass(data, begin, end, read_whole): starts find_lines's pass over "
              "data[begin:end] in a thread of its own (where threads are to be had; else "
              "it runs at once); lines(first_line) takes what it found.",
    .tp_methods = pass_methods,
    .tp_new = pass_new,
};

/* ---- Literals: the first of several byte strings in a buffer, in one pass ---- */
typedef struct {
    PyObject_HEAD
    Markers *markers;
} Literals;

static void literals_dealloc(Literals *self) {
    if (self->markers) {
        free_markers(self->markers);
        PyMem_RawFree(self->markers);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int literals_init(Literals *self, PyObject *args, PyObject *kwds) {
    PyObject *list;
    static char *names[] = {"literals", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!", names, &PyList_Type, &list)) return -1;
    if (self->markers) { /* a search may be running without the GIL: never changed */
        PyErr_SetString(PyExc_RuntimeError, "Literals are set once");
        return -1;
    }
    Markers *m = PyMem_RawMalloc(sizeof(Markers));
    if (m == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (build_markers(m, list, 0) < 0) {
        PyMem_RawFree(m);
        return -1;
    }
    self->markers = m;
    return 0;
}

/* Where the first of m's literals starts in [lo, hi), or NULL. */
static const unsigned char *first_literal(const Markers *m, const unsigned char *lo,
                                          const unsigned char *hi, const unsigned char *limit) {
    const unsigned char *best = NULL, *p = lo;
    int kind;
    while (p < hi) {
        const unsigned char *start = NULL;
        const unsigned char *a = next_marker(m, p, lo, hi, limit, KIND_SURE, &kind, &start);
        if (a == NULL) break;
        if (best == NULL || start < best) best = start;
        /* A literal starting before best has its anchor before best + the longest literal. */
        if (a + 1 - best >= m->longest) break;
        p = a + 1;
    }
    return best;
}

static PyObject *literals_first(Literals *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (self->markers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Literals() was not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end) || !in_buffer(&view, start, end))
        return NULL;
    const unsigned char *data = view.buf, *found;
    Py_BEGIN_ALLOW_THREADS
    found = first_literal(self->markers, data + start, data + end, data + view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found ? found - data : -1);
}

static PyMethodDef literals_methods[] = {
    {"first", (PyCFunction)literals_first, METH_VARARGS,
     "first(data, start, end) -> int: where the first of the literals starts in "
     "data[start:end] (wholly inside it), or -1."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LiteralsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kb._lines.Literals",
    .tp_basicsize = sizeof(Literals),
    .tp_dealloc = (destructor)literals_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Literals(literals: list[bytes]): finds the first of them in a buffer, in one "
              "pass (each of 3 bytes or more).",
    .tp_methods = literals_methods,
    .tp_init = (initproc)literals_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *count_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, n;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end) || !in_buffer(&view, start, end))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = count_newlines((const unsigned char *)view.buf + start, (const unsigned char *)view.buf + end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyObject *set_nibbles(PyObject *self, PyObject *args) {
    int on;
    if (!PyArg_ParseTuple(args, "p", &on)) return NULL;
#ifdef NIBBLES
    int was = nibbles;
    nibbles = on && was_able;
    return PyBool_FromLong(was);
#else
    (void)on;
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(patterns: list[tuple[bytes, int]], mnemonics: list[bytes]): the markers (kind "
     "1 sure, 2 noisy; byte 0x01 stands for any digit) and the mnemonics a noisy line's tag "
     "may name."},
    {"configure_events", configure_events, METH_VARARGS,
     "configure_events(event_type, words, max_line_chars): build the events of the commonest "
     "lines here (words: invalid_spi, replay_error, mac_error, ios, asa, ftd, esp, ah and the "
     "IOS tag, as kb/formats.py names them)."},
    {"set_nibbles", set_nibbles, METH_VARARGS,
     "set_nibbles(on) -> bool: use the nibble tables where the CPU can (on, the default) or "
     "compare with each anchor (what CPUs without SSSE3 or NEON do: for tests); returns "
     "whether they were used."},
    {"count_lines", count_lines, METH_VARARGS,
     "count_lines(data, start, end) -> int: data.count(b'\\n', start, end), 16 bytes at a time."},
    {"find_lines", find_lines, METH_VARARGS,
     "find_lines(data, begin, end, first_line, read_whole) -> (found, newlines): the lines of "
     "data[begin:end] to read and the newlines in data[begin:end]. Each found line is its "
     "Event, read here (with read_whole, once configure_events was called), or (start, stop, "
     "number, maybe): maybe, if markers.line_is_read decides."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kb._lines", NULL, -1, methods};

PyMODINIT_FUNC PyInit__lines(void) {
    for (int c = 0; c < 256; c++)
        if ((c < 0x20 && c != '\n') || c >= 0x7f || c == '&' || c == '<' || c == '`')
            look[c] = LOOK_REWRITTEN;
    look['-'] = LOOK_DASH;
    look['d'] = look['D'] = LOOK_D;
    look['%'] = LOOK_PERCENT;
#if defined(NIBBLES) && defined(__x86_64__)
    nibbles = was_able = __builtin_cpu_supports("ssse3");
#elif defined(NIBBLES)
    nibbles = was_able = 1;
#endif
    if (PyType_Ready(&LiteralsType) < 0 || PyType_Ready(&PassType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Literals", (PyObject *)&LiteralsType) < 0 ||
        PyModule_AddObjectRef(m, "Pass", (PyObject *)&PassType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
