/*
 * vcard-glue: puts libcacard's software CAC card into pcscd's vpcd reader (vsmartcard) over TCP.
 * Test rig only; never ship it.
 *
 *   vcard-glue --db DIR --cert NICK [--cert NICK ...] [--port N] [--host ADDR] [--max-tries N]
 *              [--removed] [--connect-timeout MS] [--pcsc-reader NAME] [--verbose]
 *
 * The card: libcacard's "soft" CAC emulation over the NSS database DIR (sql: format), with up to
 * three certificates (NSS nicknames) and their RSA private keys. The NSS database password is the
 * card PIN: libcacard checks a VERIFY by logging in to the database.
 *
 * vpcd's protocol: vpcd (inside pcscd) listens, this program connects. Every message either way is a
 * 2-byte big-endian length and a payload. From vpcd, a 1-byte payload is a command (0x00 power off,
 * 0x01 power on, 0x02 reset, 0x04 "send the ATR"); a longer one is a C-APDU, answered with the R-APDU.
 * vpcd sends the length and the body in two writes, so the socket has TCP_NODELAY, every answer goes
 * out in one write, and TCP_QUICKACK is re-armed after every read (otherwise Nagle + delayed ACK cost
 * ~40 ms per exchange).
 *
 * What a real card has and libcacard lacks, added here:
 *   - A user PIN retry counter (--max-tries, default 3), kept for the life of the process like a
 *     card keeps it across power cycles. VERIFY (CLA 0x, INS 20, P1 P2 00 00):
 *       with a PIN:    right -> 90 00 and the counter back to the maximum; wrong -> 63 Cx, x = tries
 *                      left (63 C0 for the one that uses up the last try);
 *       without data:  90 00 when verified, else 63 Cx (the "tries left" query);
 *       blocked:       69 83 for both, without asking the card (a blocked card refuses the right PIN).
 *   - Removal and insertion, on signals:
 *       SIGUSR1 = remove: the card is powered off (its login state is lost) and the connection is
 *                 closed abortively (RST). vpcd's next use of it fails: its presence poll (every
 *                 ~400 ms) reports no card, an APDU sent after it fails as a transmit error, and
 *                 pcscd reports the reader empty, as for a card pulled out of a real reader.
 *                 (Answering vpcd's ATR poll with an empty ATR instead is NOT a way to do this:
 *                 tried, vpcd 0.8 never finished that poll and the reader hung; SCardConnect never
 *                 returned. Its zero-length recv with MSG_WAITALL is the likely cause.)
 *       SIGUSR2 = insert: connects to vpcd again; pcscd's next poll finds the card and powers it on.
 *     The PIN counter survives removal, like a real card's.
 *   SIGHUP = unblock: the retry counter back to the maximum (an administrator's unblock; the CAC
 *            emulation has no PUK), event "pin-unblocked".
 *   SIGTERM / SIGINT: close the connection and exit 0. The glue also gets SIGTERM when the
 *   process that started it dies (PR_SET_PDEATHSIG).
 *
 * With --pcsc-reader NAME (and PCSCLITE_CSOCK_NAME for a private pcscd), a thread watches pcscd's own
 * state of that reader with SCardGetStatusChange and reports it: only then does a test know that
 * pcscd (and so OpenSC) sees the card, or sees it gone.
 *
 * Events, one line each on stdout (for the test rig to wait on; never a PIN or APDU data):
 *   ready atr=<hex>      card emulator up, before the first connection
 *   connected            TCP connection to vpcd established
 *   power-on | power-off | reset
 *   removed              SIGUSR1 done: card powered off, connection closed
 *   pcsc-present         pcscd reports a card in the reader (it has powered it and read the ATR)
 *   pcsc-empty           pcscd reports the reader empty
 *   pin-ok | pin-wrong tries-left=N | pin-blocked | pin-unblocked
 *   vpcd-closed          vpcd closed the connection while the card was in: pcscd stopped; exits 0
 * Diagnostics go to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <libcacard.h>
#include <pthread.h>
#include <winscard.h>

#define MAX_CERTS 3
#define DEFAULT_PORT 35963 /* 0x8C7B, vpcd's default */
#define DEFAULT_MAX_TRIES 3
#define READER_NAME "p11ksp Virtual Reader"
#define MAX_MSG 0xFFFF

static struct {
    const char *db;
    const char *host;
    int port;
    int max_tries;
    int start_removed;
    int connect_timeout_ms;
    int verbose;
    const char *pcsc_reader;
    const char *certs[MAX_CERTS];
    int cert_count;
} opt = { NULL, "127.0.0.1", DEFAULT_PORT, DEFAULT_MAX_TRIES, 0, 30000, 0, NULL, { NULL }, 0 };

enum card_state { CARD_IN, CARD_OUT };

static VReader *reader;
static unsigned char atr[64];
static int atr_len;
static int sock = -1;
static enum card_state card = CARD_IN;
static int tries_left;

/* Two threads write events: one line at a time. */
static void event(const char *fmt, ...) {
    va_list ap;
    flockfile(stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
}

static void die(const char *fmt, ...) {
    va_list ap;
    fputs("vcard-glue: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- the card -------------------------------------------------------------------------------- */

static void start_card(void) {
    /* libcacard's option syntax: soft=(reader name,virtual name,CAC,params,nick1,nick2,nick3) */
    char args[4096];
    int n = snprintf(args, sizeof args, "db=\"sql:%s\" use_hw=no soft=(,%s,CAC,", opt.db, READER_NAME);
    for (int i = 0; i < opt.cert_count; i++)
        n += snprintf(args + n, sizeof args - n, ",%s", opt.certs[i]);
    n += snprintf(args + n, sizeof args - n, ")");
    if (n >= (int) sizeof args) die("options too long");

    VCardEmulOptions *options = vcard_emul_options(args);
    if (options == NULL) die("libcacard rejected the options");
    if (vcard_emul_init(options) != VCARD_EMUL_OK) die("vcard_emul_init failed (NSS database %s)", opt.db);
    reader = vreader_get_reader_by_name(READER_NAME);
    if (reader == NULL) die("libcacard made no reader \"%s\"", READER_NAME);
    if (vreader_card_is_present(reader) != VREADER_OK) die("no card in the virtual reader (certificates not found?)");
    /* The ATR is fixed for the emulated card: read it once (a reset of a card nobody uses yet). */
    atr_len = (int) sizeof atr;
    if (vreader_power_on(reader, atr, &atr_len) != VREADER_OK || atr_len <= 0) die("cannot read the card's ATR");
    vreader_power_off(reader);
}

static void drain_card_events(void) {
    VEvent *e;
    while ((e = vevent_get_next_vevent()) != NULL) vevent_delete(e);
}

static unsigned sw_of(const unsigned char *r, int n) {
    return n >= 2 ? ((unsigned) r[n - 2] << 8) | r[n - 1] : 0;
}

static int put_sw(unsigned char *r, unsigned sw) {
    r[0] = (unsigned char) (sw >> 8);
    r[1] = (unsigned char) sw;
    return 2;
}

static unsigned tries_sw(void) {
    return 0x63C0u | (unsigned) (tries_left > 15 ? 15 : tries_left);
}

/* Sends one C-APDU to the card; returns the R-APDU length in r (at least 2 bytes of status). */
static int card_xfr(unsigned char *apdu, int len, unsigned char *r, int cap) {
    int rlen = cap;
    if (vreader_xfr_bytes(reader, apdu, len, r, &rlen) != VREADER_OK || rlen < 2)
        return put_sw(r, 0x6F00); /* no precise diagnosis */
    return rlen;
}

/* VERIFY with the retry counter around libcacard's NSS login. */
static int verify(unsigned char *apdu, int len, int has_pin, unsigned char *r, int cap) {
    if (tries_left <= 0) {
        event("pin-blocked");
        return put_sw(r, 0x6983);
    }
    int rlen = card_xfr(apdu, len, r, cap);
    unsigned sw = sw_of(r, rlen);
    if (!has_pin) return sw == 0x9000 ? rlen : put_sw(r, tries_sw());
    if (sw == 0x9000) {
        tries_left = opt.max_tries;
        event("pin-ok");
        return rlen;
    }
    if (sw == 0x6985 || sw == 0x6982 || sw == 0x6300 || (sw & 0xFFF0) == 0x63C0) {
        tries_left--;
        event("pin-wrong tries-left=%d", tries_left);
        return put_sw(r, tries_sw());
    }
    return rlen;
}

static int process_apdu(unsigned char *apdu, int len, unsigned char *r, int cap) {
    /* ISO class (no SM, any logical channel), VERIFY, P1 P2 = 00 00 (the one PIN libcacard has) */
    int is_verify = len >= 4 && (apdu[0] & 0xF0) == 0x00 && apdu[1] == 0x20 && apdu[2] == 0 && apdu[3] == 0;
    int rlen;
    if (is_verify) {
        int has_pin = len > 5 && apdu[4] != 0 && len >= 5 + apdu[4];
        rlen = verify(apdu, len, has_pin, r, cap);
    } else {
        rlen = card_xfr(apdu, len, r, cap);
    }
    if (opt.verbose) /* header and status only: never data (a VERIFY carries the PIN) */
        fprintf(stderr, "vcard-glue: apdu %02X %02X %02X %02X (%d bytes) -> %04X\n",
                apdu[0], apdu[1], apdu[2], apdu[3], len, sw_of(r, rlen));
    drain_card_events();
    return rlen;
}

/* ---- the connection to vpcd ------------------------------------------------------------------ */

static void close_connection(void) {
    if (sock >= 0) close(sock);
    sock = -1;
}

static int try_connect(void) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short) opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) die("bad --host %s (IPv4 address)", opt.host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    return fd;
}

/* Reads exactly n bytes; 0 on EOF or error. */
static int read_full(unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(sock, buf + got, n - got, 0);
        if (k == 0) return 0;
        if (k < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        got += (size_t) k;
    }
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    return 1;
}

/* One message, one write. */
static int send_msg(const unsigned char *payload, int len) {
    unsigned char buf[MAX_MSG + 2];
    buf[0] = (unsigned char) (len >> 8);
    buf[1] = (unsigned char) len;
    if (len > 0) memcpy(buf + 2, payload, (size_t) len);
    size_t total = (size_t) len + 2, sent = 0;
    while (sent < total) {
        ssize_t k = send(sock, buf + sent, total - sent, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        sent += (size_t) k;
    }
    return 1;
}

static void connection_lost(void) {
    close_connection();
    event("vpcd-closed");
    exit(0);
}

static void handle_message(void) {
    static unsigned char msg[MAX_MSG], resp[MAX_MSG];
    unsigned char hdr[2];
    if (!read_full(hdr, 2)) { connection_lost(); return; }
    int len = (hdr[0] << 8) | hdr[1];
    if (len > 0 && !read_full(msg, (size_t) len)) { connection_lost(); return; }
    if (len == 0) return;

    if (len == 1) {
        switch (msg[0]) {
        case 0x00:
            vreader_power_off(reader);
            event("power-off");
            break;
        case 0x01:
        case 0x02: {
            int n = (int) sizeof resp;
            vreader_power_on(reader, resp, &n); /* a cold or warm reset: login state is lost */
            event(msg[0] == 0x01 ? "power-on" : "reset");
            break;
        }
        case 0x04:
            if (!send_msg(atr, atr_len)) { connection_lost(); return; }
            break;
        default:
            fprintf(stderr, "vcard-glue: unknown vpcd command 0x%02X ignored\n", msg[0]);
        }
        drain_card_events();
        return;
    }

    int rlen = process_apdu(msg, len, resp, (int) sizeof resp);
    if (!send_msg(resp, rlen)) connection_lost();
}

/* ---- removal and insertion --------------------------------------------------------------------- */

static void remove_card(void) {
    if (card != CARD_IN) return;
    vreader_power_off(reader);
    drain_card_events();
    if (sock >= 0) { /* abortive close: vpcd's next send or poll fails at once */
        struct linger lg = { 1, 0 };
        setsockopt(sock, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close_connection();
    }
    card = CARD_OUT;
    event("removed");
}

static void insert_card(void) {
    if (card == CARD_IN) return;
    card = CARD_IN; /* the main loop connects */
}

/* ---- pcscd's view of the reader ------------------------------------------------------------------ */

static void *watch_pcsc(void *unused) {
    (void) unused;
    int last = -1; /* 1 present, 0 empty */
    for (;;) {
        SCARDCONTEXT ctx;
        if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS) {
            usleep(50000); /* pcscd not up yet */
            continue;
        }
        SCARD_READERSTATE rs;
        memset(&rs, 0, sizeof rs);
        rs.szReader = opt.pcsc_reader;
        rs.dwCurrentState = SCARD_STATE_UNAWARE;
        for (;;) {
            LONG rv = SCardGetStatusChange(ctx, INFINITE, &rs, 1);
            if (rv == SCARD_E_TIMEOUT) continue;
            if (rv != SCARD_S_SUCCESS) break; /* reader not there yet, or pcscd gone: start over */
            if (rs.dwEventState & SCARD_STATE_UNKNOWN) break;
            int present = (rs.dwEventState & SCARD_STATE_PRESENT) != 0;
            if (present != last) event(present ? "pcsc-present" : "pcsc-empty");
            last = present;
            rs.dwCurrentState = rs.dwEventState & ~(DWORD) SCARD_STATE_CHANGED;
        }
        SCardReleaseContext(ctx);
        usleep(50000);
    }
    return NULL;
}

/* ---- main ------------------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr, "usage: vcard-glue --db DIR --cert NICK [--cert NICK ...] [--port N] [--host ADDR]\n"
                    "                  [--max-tries N] [--removed] [--connect-timeout MS] [--pcsc-reader NAME]\n"
                    "                  [--verbose]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "cert", required_argument, NULL, 'c' },
        { "port", required_argument, NULL, 'p' },
        { "host", required_argument, NULL, 'H' },
        { "max-tries", required_argument, NULL, 't' },
        { "removed", no_argument, NULL, 'r' },
        { "connect-timeout", required_argument, NULL, 'T' },
        { "verbose", no_argument, NULL, 'v' },
        { "pcsc-reader", required_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': opt.db = optarg; break;
        case 'c':
            if (opt.cert_count == MAX_CERTS) die("at most %d certificates", MAX_CERTS);
            if (strpbrk(optarg, ",()\"") != NULL) die("certificate nickname with , ( ) or \": %s", optarg);
            opt.certs[opt.cert_count++] = optarg;
            break;
        case 'p': opt.port = atoi(optarg); break;
        case 'H': opt.host = optarg; break;
        case 't': opt.max_tries = atoi(optarg); break;
        case 'r': opt.start_removed = 1; break;
        case 'T': opt.connect_timeout_ms = atoi(optarg); break;
        case 'v': opt.verbose = 1; break;
        case 'R': opt.pcsc_reader = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || opt.db == NULL || opt.cert_count == 0) usage();
    if (opt.port <= 0 || opt.port > 65535) die("bad --port");
    if (opt.max_tries <= 0 || opt.max_tries > 15) die("--max-tries must be 1..15");
    if (strchr(opt.db, '"') != NULL) die("database path with a quote");
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Dies with the test process that started it, even if that one is killed outright. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    unsetenv("G_MESSAGES_DEBUG"); /* libcacard's debug log is not for tests' output */

    /* Signals arrive through a signalfd: block them before NSS starts any thread. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die("sigprocmask: %s", strerror(errno));
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) die("signalfd: %s", strerror(errno));
    if (getppid() == 1) return 0; /* the parent is already gone */

    tries_left = opt.max_tries;
    start_card();
    drain_card_events();
    {
        char hex[sizeof atr * 2 + 1];
        for (int i = 0; i < atr_len; i++) sprintf(hex + 2 * i, "%02X", atr[i]);
        hex[2 * atr_len] = '\0';
        event("ready atr=%s", hex);
    }
    if (opt.start_removed) {
        card = CARD_OUT;
        event("removed");
    }
    if (opt.pcsc_reader != NULL) {
        pthread_t watcher;
        if (pthread_create(&watcher, NULL, watch_pcsc, NULL) != 0) die("cannot start the PC/SC watcher");
        pthread_detach(watcher);
    }

    long connect_deadline = -1;
    for (;;) {
        if (card == CARD_IN && sock < 0) {
            if (connect_deadline < 0) connect_deadline = now_ms() + opt.connect_timeout_ms;
            sock = try_connect();
            if (sock >= 0) {
                connect_deadline = -1;
                event("connected");
            } else if (now_ms() > connect_deadline) {
                die("cannot connect to vpcd at %s:%d", opt.host, opt.port);
            }
        }
        struct pollfd fds[2] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 } };
        int nfds = sock >= 0 ? 2 : 1;
        int timeout = (card == CARD_IN && sock < 0) ? 20 : -1; /* retry the connection */
        int n = poll(fds, (nfds_t) nfds, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("poll: %s", strerror(errno));
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t) sizeof si) {
                switch (si.ssi_signo) {
                case SIGUSR1: remove_card(); break;
                case SIGUSR2: insert_card(); break;
                case SIGHUP:
                    tries_left = opt.max_tries;
                    event("pin-unblocked");
                    break;
                default:
                    close_connection();
                    return 0;
                }
            }
        }
        if (nfds == 2 && sock >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) handle_message();
    }
}
