/*
 * pin-counter-shim: a PKCS#11 module that wraps a real module (SoftHSM2 by default) and adds what
 * SoftHSM2 lacks and real smart cards have: a user-PIN retry counter that locks, plus optional fault
 * injection. Test rig only; never ship it.
 *
 * Environment (read when the shim is C_Initialize'd, except the target, read when first loaded):
 *   P11KSP_SHIM_TARGET      real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   P11KSP_SHIM_MAX_TRIES   user PIN tries before the PIN locks (default 3)
 *   P11KSP_SHIM_STATE_DIR   directory of one "<token serial>.tries" file per token, so separate
 *                           processes share one counter like they share one card; unset = in memory
 *   P11KSP_SHIM_LOCK_ON_LAST=1  the wrong PIN that uses up the last try returns CKR_PIN_LOCKED
 *                           (default: CKR_PIN_INCORRECT, which is what OpenSC reports for a real card
 *                           answering 63 C0; every later attempt returns CKR_PIN_LOCKED)
 *   P11KSP_SHIM_FAIL_AFTER  "<n>:<CKR hex>:<function>[,...]": after n calls of the function that
 *                           returned CKR_OK, every further call returns that CKR without reaching the
 *                           real module (sticky, like a removed card). Function "*" = every function.
 *                           C_GetFunctionList, C_Initialize and C_Finalize are never failed.
 *
 * PIN counter semantics (per token, keyed by token serial, "slot-<id>" if the serial is blank):
 *   - C_Login(CKU_USER or CKU_CONTEXT_SPECIFIC) and C_SetPIN outside an SO session check the user
 *     PIN: CKR_PIN_INCORRECT from the real module decrements, CKR_OK resets to the maximum; with no
 *     tries left they return CKR_PIN_LOCKED without calling the real module.
 *   - C_InitPIN that succeeds (needs an SO login) and C_InitToken reset the counter: SO unlock.
 *   - C_GetTokenInfo replaces the real module's user-PIN flags, the way OpenSC reports a card:
 *     0 left -> CKF_USER_PIN_LOCKED, 1 left -> CKF_USER_PIN_FINAL_TRY,
 *     fewer than the maximum -> CKF_USER_PIN_COUNT_LOW, else none of them.
 *
 * Sharing one process with direct users of the target: the shim is a different .so, but it dlopens
 * the same target path, so the dynamic loader hands it the SAME library instance. SoftHSM2 then has
 * one C_Initialize state, one login state per token and one session table for everybody in the
 * process. Hence:
 *   - C_Initialize accepts CKR_CRYPTOKI_ALREADY_INITIALIZED from the target (someone else owns it).
 *   - C_Finalize finalizes the target only if the shim's C_Initialize was the one that initialised
 *     it; otherwise it closes only the sessions opened through the shim, so the other user keeps
 *     working. (If the shim owns the target, its C_Finalize ends the other user's sessions too.)
 *   - A login through the shim is a login for the direct user as well, and vice versa
 *     (CKR_USER_ALREADY_LOGGED_IN); use a separate token for PIN-counter tests.
 * The target is never dlclosed: it stays loaded for the life of the process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define SHIM_EXPORT __attribute__((visibility("default")))
#define DEFAULT_TARGET "/usr/lib/softhsm/libsofthsm2.so"
#define DEFAULT_MAX_TRIES 3L
#define USER_PIN_FLAGS (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)

static pthread_mutex_t init_mutex = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR target;  /* the real module's list; loaded once, never unloaded */
static CK_FUNCTION_LIST shim_list;   /* what C_GetFunctionList hands out */
static volatile int shim_initialized;
static int target_owned;             /* our C_Initialize initialised the target */

/* ---- configuration, read at C_Initialize ---------------------------------------------------- */

static long max_tries = DEFAULT_MAX_TRIES;
static int lock_on_last;
static char state_dir[PATH_MAX];     /* empty: counters live in memory */

static void read_counter_config(void) {
    const char *v = getenv("P11KSP_SHIM_MAX_TRIES");
    long n = v ? strtol(v, NULL, 10) : 0;
    max_tries = n > 0 ? n : DEFAULT_MAX_TRIES;
    v = getenv("P11KSP_SHIM_LOCK_ON_LAST");
    lock_on_last = v != NULL && strcmp(v, "1") == 0;
    v = getenv("P11KSP_SHIM_STATE_DIR");
    state_dir[0] = '\0';
    if (v != NULL && v[0] != '\0') {
        snprintf(state_dir, sizeof state_dir, "%s", v);
        mkdir(state_dir, 0700); /* EEXIST is fine; other errors surface when the file is opened */
    }
}

/* ---- fault injection ---------------------------------------------------------------------- */

typedef struct { char function[64]; unsigned long after; CK_RV rv; unsigned long successes; } fault_rule;

#define MAX_FAULT_RULES 16
static fault_rule fault_rules[MAX_FAULT_RULES];
static int fault_rule_count;
static pthread_mutex_t fault_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Parses P11KSP_SHIM_FAIL_AFTER; a malformed value fails C_Initialize so a typo cannot pass silently. */
static CK_RV read_fault_config(void) {
    const char *v = getenv("P11KSP_SHIM_FAIL_AFTER");
    fault_rule_count = 0;
    if (v == NULL || v[0] == '\0') return CKR_OK;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        fault_rule r = {0};
        char *end = NULL;
        r.after = strtoul(item, &end, 10);
        if (end == item || *end != ':') goto bad;
        char *ckr = end + 1;
        r.rv = strtoul(ckr, &end, 16);
        if (end == ckr || *end != ':' || end[1] == '\0' || r.rv == CKR_OK) goto bad;
        snprintf(r.function, sizeof r.function, "%s", end + 1);
        if (fault_rule_count == MAX_FAULT_RULES) goto bad;
        fault_rules[fault_rule_count++] = r;
    }
    return CKR_OK;
bad:
    fprintf(stderr, "pin-counter-shim: bad P11KSP_SHIM_FAIL_AFTER \"%s\" (want n:ckrhex:C_Name[,...])\n", v);
    fault_rule_count = 0;
    return CKR_GENERAL_ERROR;
}

static int rule_matches(const fault_rule *r, const char *function) {
    return strcmp(r->function, "*") == 0 || strcmp(r->function, function) == 0;
}

static CK_RV fault_before(const char *function) {
    if (fault_rule_count == 0) return CKR_OK; /* the common case: no lock on the hot path */
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&fault_mutex);
    for (int i = 0; i < fault_rule_count && rv == CKR_OK; i++)
        if (rule_matches(&fault_rules[i], function) && fault_rules[i].successes >= fault_rules[i].after)
            rv = fault_rules[i].rv;
    pthread_mutex_unlock(&fault_mutex);
    return rv;
}

static void fault_after(const char *function, CK_RV rv) {
    if (fault_rule_count == 0 || rv != CKR_OK) return;
    pthread_mutex_lock(&fault_mutex);
    for (int i = 0; i < fault_rule_count; i++)
        if (rule_matches(&fault_rules[i], function)) fault_rules[i].successes++;
    pthread_mutex_unlock(&fault_mutex);
}

/* ---- sessions opened through the shim (closed by a non-owning C_Finalize) ----------------- */

typedef struct { CK_SESSION_HANDLE session; CK_SLOT_ID slot; } tracked_session;
static tracked_session *sessions;
static size_t session_count, session_capacity;
static pthread_mutex_t session_mutex = PTHREAD_MUTEX_INITIALIZER;

static void track_session(CK_SESSION_HANDLE session, CK_SLOT_ID slot) {
    pthread_mutex_lock(&session_mutex);
    if (session_count == session_capacity) {
        size_t capacity = session_capacity ? session_capacity * 2 : 64;
        tracked_session *grown = realloc(sessions, capacity * sizeof *grown);
        if (grown == NULL) { pthread_mutex_unlock(&session_mutex); return; }
        sessions = grown;
        session_capacity = capacity;
    }
    sessions[session_count++] = (tracked_session){ session, slot };
    pthread_mutex_unlock(&session_mutex);
}

/* Forgets one session (all_of_slot = 0) or every session of a slot (all_of_slot = 1). */
static void untrack_sessions(CK_SESSION_HANDLE session, CK_SLOT_ID slot, int all_of_slot) {
    pthread_mutex_lock(&session_mutex);
    for (size_t i = 0; i < session_count;) {
        int hit = all_of_slot ? sessions[i].slot == slot : sessions[i].session == session;
        if (hit) sessions[i] = sessions[--session_count];
        else i++;
    }
    pthread_mutex_unlock(&session_mutex);
}

static void close_tracked_sessions(void) {
    pthread_mutex_lock(&session_mutex);
    for (size_t i = 0; i < session_count; i++) target->C_CloseSession(sessions[i].session);
    session_count = 0;
    pthread_mutex_unlock(&session_mutex);
}

static void forget_tracked_sessions(void) {
    pthread_mutex_lock(&session_mutex);
    session_count = 0;
    pthread_mutex_unlock(&session_mutex);
}

/* ---- the PIN retry counter ---------------------------------------------------------------- */

/* One counter, locked from counter_open to counter_close: a process mutex for threads and, with
 * a state dir, flock on the token's file for other processes. Held across the real C_Login so two
 * wrong PINs racing each other both count. */
typedef struct { char key[80]; int fd; long remaining; } pin_counter;

#define MEMORY_COUNTERS 64
static struct { char key[80]; long remaining; } memory_counters[MEMORY_COUNTERS];
static int memory_counter_count;
static pthread_mutex_t counter_mutex = PTHREAD_MUTEX_INITIALIZER;

static void token_key(CK_SLOT_ID slot, const CK_TOKEN_INFO *info, char *key, size_t size) {
    size_t n = sizeof info->serialNumber;
    while (n > 0 && (info->serialNumber[n - 1] == ' ' || info->serialNumber[n - 1] == '\0')) n--;
    if (n == 0) { snprintf(key, size, "slot-%lu", slot); return; }
    size_t i = 0;
    for (; i < n && i + 1 < size; i++) {
        unsigned char c = info->serialNumber[i];
        int safe = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
        key[i] = safe ? (char)c : '_';
    }
    key[i] = '\0';
}

static long clamp_remaining(long remaining) {
    return remaining < 0 ? 0 : remaining > max_tries ? max_tries : remaining;
}

static void counter_open_key(const char *key, pin_counter *c) {
    pthread_mutex_lock(&counter_mutex);
    snprintf(c->key, sizeof c->key, "%s", key);
    c->fd = -1;
    c->remaining = max_tries;
    if (state_dir[0] != '\0') {
        char path[PATH_MAX + 96]; /* dir + "/" + key + ".tries" */
        snprintf(path, sizeof path, "%s/%s.tries", state_dir, key);
        c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (c->fd < 0) {
            fprintf(stderr, "pin-counter-shim: cannot open %s: %s\n", path, strerror(errno));
            return;
        }
        flock(c->fd, LOCK_EX);
        char text[32] = {0};
        ssize_t got = pread(c->fd, text, sizeof text - 1, 0);
        char *end = NULL;
        long stored = got > 0 ? strtol(text, &end, 10) : max_tries;
        c->remaining = clamp_remaining(got > 0 && end != text ? stored : max_tries);
        return;
    }
    for (int i = 0; i < memory_counter_count; i++)
        if (strcmp(memory_counters[i].key, key) == 0) {
            c->remaining = clamp_remaining(memory_counters[i].remaining);
            return;
        }
}

/* Opens the counter of the token in a slot; the serial comes from the real module. */
static CK_RV counter_open(CK_SLOT_ID slot, pin_counter *c) {
    CK_TOKEN_INFO info;
    CK_RV rv = target->C_GetTokenInfo(slot, &info);
    if (rv != CKR_OK) return rv;
    char key[80];
    token_key(slot, &info, key, sizeof key);
    counter_open_key(key, c);
    return CKR_OK;
}

static void counter_store(pin_counter *c, long remaining) {
    c->remaining = clamp_remaining(remaining);
    if (c->fd >= 0) {
        char text[32];
        int len = snprintf(text, sizeof text, "%ld\n", c->remaining);
        if (ftruncate(c->fd, 0) != 0 || pwrite(c->fd, text, (size_t)len, 0) != len)
            fprintf(stderr, "pin-counter-shim: cannot write counter %s: %s\n", c->key, strerror(errno));
        return;
    }
    if (state_dir[0] != '\0') return; /* the file could not be opened; already reported */
    for (int i = 0; i < memory_counter_count; i++)
        if (strcmp(memory_counters[i].key, c->key) == 0) { memory_counters[i].remaining = c->remaining; return; }
    if (memory_counter_count < MEMORY_COUNTERS) {
        snprintf(memory_counters[memory_counter_count].key, sizeof memory_counters[0].key, "%s", c->key);
        memory_counters[memory_counter_count++].remaining = c->remaining;
    }
}

static void counter_close(pin_counter *c) {
    if (c->fd >= 0) {
        flock(c->fd, LOCK_UN);
        close(c->fd);
        c->fd = -1;
    }
    pthread_mutex_unlock(&counter_mutex);
}

static CK_RV slot_of_session(CK_SESSION_HANDLE session, CK_SLOT_ID *slot, CK_STATE *state) {
    CK_SESSION_INFO info;
    CK_RV rv = target->C_GetSessionInfo(session, &info);
    if (rv == CKR_OK) { *slot = info.slotID; if (state) *state = info.state; }
    return rv;
}

/* Runs one user-PIN check (login or PIN change) against the counter of the session's token. */
typedef CK_RV (*pin_check_fn)(void *call);

static CK_RV counted_pin_check(CK_SESSION_HANDLE session, pin_check_fn check, void *call) {
    CK_SLOT_ID slot;
    CK_RV rv = slot_of_session(session, &slot, NULL);
    if (rv != CKR_OK) return rv;
    pin_counter c;
    rv = counter_open(slot, &c);
    if (rv != CKR_OK) return rv;
    if (c.remaining <= 0) {
        rv = CKR_PIN_LOCKED; /* a locked card refuses without checking the PIN */
    } else {
        rv = check(call);
        if (rv == CKR_PIN_INCORRECT) {
            counter_store(&c, c.remaining - 1);
            if (c.remaining == 0 && lock_on_last) rv = CKR_PIN_LOCKED;
        } else if (rv == CKR_OK && c.remaining != max_tries) {
            counter_store(&c, max_tries);
        }
    }
    counter_close(&c);
    return rv;
}

static CK_RV reset_counter(CK_SLOT_ID slot) {
    pin_counter c;
    CK_RV rv = counter_open(slot, &c);
    if (rv != CKR_OK) return rv;
    counter_store(&c, max_tries);
    counter_close(&c);
    return CKR_OK;
}

/* ---- overridden functions ----------------------------------------------------------------- */

static CK_RV pin_C_Initialize(CK_VOID_PTR init_args) {
    pthread_mutex_lock(&init_mutex);
    if (shim_initialized) { pthread_mutex_unlock(&init_mutex); return CKR_CRYPTOKI_ALREADY_INITIALIZED; }
    CK_RV rv = read_fault_config();
    if (rv == CKR_OK) rv = target->C_Initialize(init_args);
    if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        target_owned = rv == CKR_OK; /* ALREADY_INITIALIZED: another user in this process owns it */
        read_counter_config();
        shim_initialized = 1;
        rv = CKR_OK;
    }
    pthread_mutex_unlock(&init_mutex);
    return rv;
}

static CK_RV pin_C_Finalize(CK_VOID_PTR reserved_arg) {
    pthread_mutex_lock(&init_mutex);
    CK_RV rv = CKR_OK;
    if (!shim_initialized) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
    } else if (target_owned) {
        rv = target->C_Finalize(reserved_arg);
        if (rv == CKR_CRYPTOKI_NOT_INITIALIZED) rv = CKR_OK;
        forget_tracked_sessions(); /* the target's C_Finalize closed them */
    } else {
        close_tracked_sessions(); /* leave the owner's initialisation, sessions and login alone */
    }
    if (rv == CKR_OK) { shim_initialized = 0; target_owned = 0; }
    pthread_mutex_unlock(&init_mutex);
    return rv;
}

static CK_RV pin_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    CK_RV rv = target->C_GetTokenInfo(slot, info);
    if (rv != CKR_OK || info == NULL) return rv;
    char key[80];
    token_key(slot, info, key, sizeof key);
    pin_counter c;
    counter_open_key(key, &c);
    long remaining = c.remaining;
    counter_close(&c);
    info->flags &= ~(CK_FLAGS)USER_PIN_FLAGS;
    if (remaining == 0) info->flags |= CKF_USER_PIN_LOCKED;
    else if (remaining == 1) info->flags |= CKF_USER_PIN_FINAL_TRY;
    else if (remaining < max_tries) info->flags |= CKF_USER_PIN_COUNT_LOW;
    return CKR_OK;
}

typedef struct { CK_SESSION_HANDLE s; CK_USER_TYPE user; CK_UTF8CHAR_PTR pin; CK_ULONG len; } login_call;

static CK_RV real_login(void *p) {
    login_call *c = p;
    return target->C_Login(c->s, c->user, c->pin, c->len);
}

static CK_RV pin_C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    if (user == CKU_SO) return target->C_Login(s, user, pin, len); /* only the user PIN is counted */
    login_call call = { s, user, pin, len };
    return counted_pin_check(s, real_login, &call);
}

typedef struct { CK_SESSION_HANDLE s; CK_UTF8CHAR_PTR old_pin; CK_ULONG old_len; CK_UTF8CHAR_PTR new_pin; CK_ULONG new_len; } set_pin_call;

static CK_RV real_set_pin(void *p) {
    set_pin_call *c = p;
    return target->C_SetPIN(c->s, c->old_pin, c->old_len, c->new_pin, c->new_len);
}

static CK_RV pin_C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,
                          CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len) {
    CK_SLOT_ID slot;
    CK_STATE state;
    CK_RV rv = slot_of_session(s, &slot, &state);
    if (rv != CKR_OK) return rv;
    if (state == CKS_RW_SO_FUNCTIONS) return target->C_SetPIN(s, old_pin, old_len, new_pin, new_len); /* SO PIN */
    set_pin_call call = { s, old_pin, old_len, new_pin, new_len };
    return counted_pin_check(s, real_set_pin, &call);
}

static CK_RV pin_C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    CK_RV rv = target->C_InitPIN(s, pin, len);
    CK_SLOT_ID slot;
    if (rv == CKR_OK && slot_of_session(s, &slot, NULL) == CKR_OK) reset_counter(slot); /* SO unlock */
    return rv;
}

static CK_RV pin_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label) {
    CK_RV rv = target->C_InitToken(slot, pin, len, label);
    if (rv == CKR_OK) reset_counter(slot);
    return rv;
}

static CK_RV pin_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                               CK_SESSION_HANDLE_PTR session) {
    CK_RV rv = target->C_OpenSession(slot, flags, app, notify, session);
    if (rv == CKR_OK && session != NULL) track_session(*session, slot);
    return rv;
}

static CK_RV pin_C_CloseSession(CK_SESSION_HANDLE s) {
    CK_RV rv = target->C_CloseSession(s);
    if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID) untrack_sessions(s, 0, 0);
    return rv;
}

static CK_RV pin_C_CloseAllSessions(CK_SLOT_ID slot) {
    CK_RV rv = target->C_CloseAllSessions(slot);
    if (rv == CKR_OK) untrack_sessions(0, slot, 1);
    return rv;
}

/* ---- the exported function list ------------------------------------------------------------ */

/* Every entry except C_GetFunctionList/C_Initialize/C_Finalize: name, implementation, parameter
 * list, argument list. "target->C_X" forwards unchanged; "pin_C_X" is overridden above. */
#define SHIM_FUNCTIONS(X)                                                                                          \
    X(C_GetInfo, target->C_GetInfo, (CK_INFO_PTR a), (a))                                                          \
    X(C_GetSlotList, target->C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), (a, b, c))              \
    X(C_GetSlotInfo, target->C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))                            \
    X(C_GetTokenInfo, pin_C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))                             \
    X(C_GetMechanismList, target->C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c),     \
      (a, b, c))                                                                                                   \
    X(C_GetMechanismInfo, target->C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c),\
      (a, b, c))                                                                                                   \
    X(C_InitToken, pin_C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d), (a, b, c, d)) \
    X(C_InitPIN, pin_C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c), (a, b, c))                   \
    X(C_SetPIN, pin_C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e), \
      (a, b, c, d, e))                                                                                             \
    X(C_OpenSession, pin_C_OpenSession, (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d,                     \
      CK_SESSION_HANDLE_PTR e), (a, b, c, d, e))                                                                   \
    X(C_CloseSession, pin_C_CloseSession, (CK_SESSION_HANDLE a), (a))                                              \
    X(C_CloseAllSessions, pin_C_CloseAllSessions, (CK_SLOT_ID a), (a))                                             \
    X(C_GetSessionInfo, target->C_GetSessionInfo, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b), (a, b))            \
    X(C_GetOperationState, target->C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c),      \
      (a, b, c))                                                                                                   \
    X(C_SetOperationState, target->C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,           \
      CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), (a, b, c, d, e))                                                    \
    X(C_Login, pin_C_Login, (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d), (a, b, c, d))    \
    X(C_Logout, target->C_Logout, (CK_SESSION_HANDLE a), (a))                                                      \
    X(C_CreateObject, target->C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c,                \
      CK_OBJECT_HANDLE_PTR d), (a, b, c, d))                                                                       \
    X(C_CopyObject, target->C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, \
      CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))                                                                    \
    X(C_DestroyObject, target->C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))                 \
    X(C_GetObjectSize, target->C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c),         \
      (a, b, c))                                                                                                   \
    X(C_GetAttributeValue, target->C_GetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,                  \
      CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))                                                               \
    X(C_SetAttributeValue, target->C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,                  \
      CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))                                                               \
    X(C_FindObjectsInit, target->C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c),         \
      (a, b, c))                                                                                                   \
    X(C_FindObjects, target->C_FindObjects, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c,              \
      CK_ULONG_PTR d), (a, b, c, d))                                                                               \
    X(C_FindObjectsFinal, target->C_FindObjectsFinal, (CK_SESSION_HANDLE a), (a))                                  \
    X(C_EncryptInit, target->C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),         \
      (a, b, c))                                                                                                   \
    X(C_Encrypt, target->C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,                \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_EncryptUpdate, target->C_EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,    \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_EncryptFinal, target->C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))     \
    X(C_DecryptInit, target->C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),         \
      (a, b, c))                                                                                                   \
    X(C_Decrypt, target->C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,                \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_DecryptUpdate, target->C_DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,    \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_DecryptFinal, target->C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))     \
    X(C_DigestInit, target->C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), (a, b))                       \
    X(C_Digest, target->C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), \
      (a, b, c, d, e))                                                                                             \
    X(C_DigestUpdate, target->C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))         \
    X(C_DigestKey, target->C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))                         \
    X(C_DigestFinal, target->C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))       \
    X(C_SignInit, target->C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))    \
    X(C_Sign, target->C_Sign, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),     \
      (a, b, c, d, e))                                                                                             \
    X(C_SignUpdate, target->C_SignUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))             \
    X(C_SignFinal, target->C_SignFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))           \
    X(C_SignRecoverInit, target->C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
      (a, b, c))                                                                                                   \
    X(C_SignRecover, target->C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,        \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_VerifyInit, target->C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c))\
    X(C_Verify, target->C_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e),     \
      (a, b, c, d, e))                                                                                             \
    X(C_VerifyUpdate, target->C_VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))         \
    X(C_VerifyFinal, target->C_VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))           \
    X(C_VerifyRecoverInit, target->C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,                  \
      CK_OBJECT_HANDLE c), (a, b, c))                                                                              \
    X(C_VerifyRecover, target->C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,    \
      CK_ULONG_PTR e), (a, b, c, d, e))                                                                            \
    X(C_DigestEncryptUpdate, target->C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,       \
      CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))                                                             \
    X(C_DecryptDigestUpdate, target->C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,       \
      CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))                                                             \
    X(C_SignEncryptUpdate, target->C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,           \
      CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))                                                             \
    X(C_DecryptVerifyUpdate, target->C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,       \
      CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))                                                             \
    X(C_GenerateKey, target->C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,          \
      CK_ULONG d, CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))                                                        \
    X(C_GenerateKeyPair, target->C_GenerateKeyPair, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,  \
      CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR h),                 \
      (a, b, c, d, e, f, g, h))                                                                                    \
    X(C_WrapKey, target->C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,                  \
      CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f), (a, b, c, d, e, f))                                      \
    X(C_UnwrapKey, target->C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,              \
      CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))\
    X(C_DeriveKey, target->C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,              \
      CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f), (a, b, c, d, e, f))                                 \
    X(C_SeedRandom, target->C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))             \
    X(C_GenerateRandom, target->C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))     \
    X(C_GetFunctionStatus, target->C_GetFunctionStatus, (CK_SESSION_HANDLE a), (a))                                \
    X(C_CancelFunction, target->C_CancelFunction, (CK_SESSION_HANDLE a), (a))                                      \
    X(C_WaitForSlotEvent, target->C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c))

/* Each wrapper: refuse before C_Initialize (the target may be initialised by another user in the
 * process, the shim's caller must still see standard behaviour), apply fault rules, call, count. */
#define DEFINE_WRAPPER(name, impl, params, args)                  \
    static CK_RV shim_##name params {                             \
        if (!shim_initialized) return CKR_CRYPTOKI_NOT_INITIALIZED; \
        CK_RV rv_ = fault_before(#name);                          \
        if (rv_ != CKR_OK) return rv_;                            \
        rv_ = impl args;                                          \
        fault_after(#name, rv_);                                  \
        return rv_;                                               \
    }
SHIM_FUNCTIONS(DEFINE_WRAPPER)

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_RV load_target(void) {
    if (target != NULL) return CKR_OK;
    const char *path = getenv("P11KSP_SHIM_TARGET");
    if (path == NULL || path[0] == '\0') path = DEFAULT_TARGET;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "pin-counter-shim: cannot load target %s: %s\n", path, dlerror());
        return CKR_GENERAL_ERROR;
    }
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL || get_list == C_GetFunctionList) {
        fprintf(stderr, "pin-counter-shim: target %s is not a PKCS#11 module (or is the shim)\n", path);
        return CKR_GENERAL_ERROR;
    }
    CK_FUNCTION_LIST_PTR real = NULL;
    CK_RV rv = get_list(&real);
    if (rv != CKR_OK) return rv;
    target = real;
    shim_list.version = real->version;
    shim_list.C_Initialize = pin_C_Initialize;
    shim_list.C_Finalize = pin_C_Finalize;
    shim_list.C_GetFunctionList = shim_C_GetFunctionList;
#define ASSIGN_WRAPPER(name, impl, params, args) shim_list.name = shim_##name;
    SHIM_FUNCTIONS(ASSIGN_WRAPPER)
    return CKR_OK;
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    if (list == NULL) return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&init_mutex);
    CK_RV rv = load_target();
    pthread_mutex_unlock(&init_mutex);
    if (rv == CKR_OK) *list = &shim_list;
    return rv;
}

SHIM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    return shim_C_GetFunctionList(list);
}
