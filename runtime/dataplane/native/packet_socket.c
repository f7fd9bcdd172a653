// l2lb packet I/O and responder.
//
// Responder: the decision half. Holds the owned addresses of one interface (a hash table guarded
// by a mutex, changed from JavaScript), validates ARP (RFC 826) and neighbour discovery
// (RFC 4861 §7.1.1) frames and writes the answer. Usable without a socket (tests, fuzzing).
//
// PacketSocket: one AF_PACKET socket bound to one interface with a classic BPF filter that lets
// only ARP and ICMPv6 NS/NA through, and a dedicated receive thread that answers in place:
// recv -> respond -> send, without entering JavaScript, so that replies never wait for the event
// loop, the garbage collector or anything else the process does. Buffers are preallocated; nothing
// is allocated per packet. Duplicate sightings are handed to JavaScript through a thread-safe
// function (bounded queue; excess events are dropped, the counter still counts them).
//
// Answer deadline: in Kubernetes mode the control plane re-confirms every tick that this process
// still owns what it answers for (`answerFor(ms)`); once the deadline passes — the process was
// frozen, or its event loop stalled long enough for a peer to take over — neither the receive
// thread nor `announce` sends anything until the control plane confirms again. CLOCK_MONOTONIC
// keeps running while the process is stopped, so frames queued during a SIGSTOP are dropped on
// SIGCONT. Without a confirmation (standalone mode) there is no deadline.
//
// Counters live in a Uint32Array owned by JavaScript: 4 per address slot,
// [requests, responses, gratuitous, duplicates], incremented atomically here.
//
// NA flags: solicited answers carry S=1 and O=1 — we are the address's owner, not a proxy, and
// after a failover a client must replace the previous node's MAC in its existing cache entry,
// which only an override advertisement does (RFC 4861 §7.2.5); R=0, a service address is not a
// router. Unsolicited announcements carry S=0, O=1.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOT_SIZE 2048
#define MAX_OUR_MACS 64
#define C_REQUESTS 0
#define C_RESPONSES 1
#define C_GRATUITOUS 2
#define C_DUPLICATES 3

#define ETH_HLEN_ 14
#define IP6_HLEN 40
#define ARP_LEN 42
#define MIN_FRAME 60
#define NA_FRAME (ETH_HLEN_ + IP6_HLEN + 32)
#define ICMPV6 58
#define ND_NS 135
#define ND_NA 136

// ---------------------------------------------------------------------------------------------
// Owned-address table (open addressing, linear probing, tombstones).

typedef struct {
  uint8_t state;  // 0 empty, 1 used, 2 deleted
  uint8_t len;    // 4 or 16
  uint8_t addr[16];
  uint32_t slot;
} entry_t;

typedef struct {
  pthread_mutex_t lock;
  entry_t *table;
  uint32_t cap, used, tombs;
  uint8_t mac[6];
  uint8_t our[MAX_OUR_MACS][6];
  int n_our;
  uint32_t *counters;
  uint32_t n_slots;
  napi_ref counters_ref;
  napi_env env;
  int64_t deadline_ns;  // CLOCK_MONOTONIC; INT64_MAX: no deadline
} responder_t;

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// The control plane's last confirmation still holds.
static int confirmed(responder_t *r) {
  return monotonic_ns() < __atomic_load_n(&r->deadline_ns, __ATOMIC_ACQUIRE);
}

static uint32_t hash_addr(const uint8_t *a, int len) {
  uint32_t h = 2166136261u ^ (uint32_t)len;
  for (int i = 0; i < len; i++) h = (h ^ a[i]) * 16777619u;
  return h;
}

static entry_t *lookup(responder_t *r, const uint8_t *a, int len) {
  if (r->used == 0) return NULL;
  uint32_t m = r->cap - 1;
  for (uint32_t i = hash_addr(a, len) & m, n = 0; n < r->cap; i = (i + 1) & m, n++) {
    entry_t *e = &r->table[i];
    if (e->state == 0) return NULL;
    if (e->state == 1 && e->len == len && memcmp(e->addr, a, (size_t)len) == 0) return e;
  }
  return NULL;
}

static int rehash(responder_t *r, uint32_t cap) {
  entry_t *t = calloc(cap, sizeof *t);
  if (!t) return -1;
  for (uint32_t i = 0; i < r->cap; i++) {
    entry_t *e = &r->table[i];
    if (e->state != 1) continue;
    uint32_t j = hash_addr(e->addr, e->len) & (cap - 1);
    while (t[j].state) j = (j + 1) & (cap - 1);
    t[j] = *e;
  }
  free(r->table);
  r->table = t;
  r->cap = cap;
  r->tombs = 0;
  return 0;
}

static int table_add(responder_t *r, const uint8_t *a, int len, uint32_t slot) {
  entry_t *e = lookup(r, a, len);
  if (e) {
    e->slot = slot;
    return 0;
  }
  if ((r->used + r->tombs + 1) * 2 > r->cap && rehash(r, (r->used + 1) * 4 > r->cap ? r->cap * 2 : r->cap) < 0) return -1;
  uint32_t m = r->cap - 1, i = hash_addr(a, len) & m;
  while (r->table[i].state == 1) i = (i + 1) & m;
  if (r->table[i].state == 2) r->tombs--;
  e = &r->table[i];
  e->state = 1;
  e->len = (uint8_t)len;
  memcpy(e->addr, a, (size_t)len);
  e->slot = slot;
  r->used++;
  return 0;
}

static void table_remove(responder_t *r, const uint8_t *a, int len) {
  entry_t *e = lookup(r, a, len);
  if (!e) return;
  e->state = 2;
  r->used--;
  r->tombs++;
}

static void count(responder_t *r, uint32_t slot, int which) {
  if (slot < r->n_slots) __atomic_fetch_add(&r->counters[slot * 4 + which], 1, __ATOMIC_RELAXED);
}

// ---------------------------------------------------------------------------------------------
// Protocol.

typedef struct {
  int seen;
  uint32_t answered;  // slot of the address answered, when a reply was written
  uint32_t slot;
  uint8_t mac[6];
  uint8_t proto;  // 0 arp, 1 ndp
} dup_t;

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static int is_zero(const uint8_t *p, int n) {
  for (int i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}
static int is_bcast(const uint8_t *p) { return (p[0] & p[1] & p[2] & p[3] & p[4] & p[5]) == 0xff; }

static int is_ours(responder_t *r, const uint8_t *mac) {
  if (memcmp(mac, r->mac, 6) == 0) return 1;
  for (int i = 0; i < r->n_our; i++)
    if (memcmp(mac, r->our[i], 6) == 0) return 1;
  return 0;
}

static void duplicate(responder_t *r, entry_t *e, const uint8_t *mac, int proto, dup_t *dup) {
  count(r, e->slot, C_DUPLICATES);
  dup->seen = 1;
  dup->slot = e->slot;
  memcpy(dup->mac, mac, 6);
  dup->proto = (uint8_t)proto;
}

// Folded one's-complement sum over the IPv6 pseudo-header and `icmp_len` bytes of ICMPv6.
static uint32_t icmp6_sum(const uint8_t *ip6, uint32_t icmp_len) {
  uint32_t sum = 0;
  for (int i = 8; i < 40; i += 2) sum += rd16(ip6 + i);
  sum += (icmp_len >> 16) + (icmp_len & 0xffff) + ICMPV6;
  const uint8_t *p = ip6 + IP6_HLEN;
  uint32_t i = 0;
  for (; i + 1 < icmp_len; i += 2) sum += rd16(p + i);
  if (i < icmp_len) sum += (uint32_t)p[i] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

// Writes the ICMPv6 part of an NA (at out+54) and its checksum; the IPv6 header must be in place.
static void write_na(uint8_t *out, const uint8_t *target, const uint8_t *mac, uint8_t flags) {
  uint8_t *icmp = out + ETH_HLEN_ + IP6_HLEN;
  memset(icmp, 0, 32);
  icmp[0] = ND_NA;
  icmp[4] = flags;
  memcpy(icmp + 8, target, 16);
  icmp[24] = 2;  // target link-layer address option
  icmp[25] = 1;
  memcpy(icmp + 26, mac, 6);
  wr16(icmp + 2, (uint16_t)~icmp6_sum(out + ETH_HLEN_, 32));
}

static void write_ip6(uint8_t *out, const uint8_t *src, const uint8_t *dst) {
  uint8_t *ip = out + ETH_HLEN_;
  wr16(out + 12, ETH_P_IPV6);
  ip[0] = 0x60;
  ip[1] = ip[2] = ip[3] = 0;
  wr16(ip + 4, 32);
  ip[6] = ICMPV6;
  ip[7] = 255;
  memcpy(ip + 8, src, 16);
  memcpy(ip + 24, dst, 16);
}

static int respond_arp(responder_t *r, const uint8_t *f, size_t len, uint8_t *out, dup_t *dup) {
  if (len < ARP_LEN) return 0;
  const uint8_t *a = f + ETH_HLEN_;
  // RFC 826: Ethernet hardware (1), 6-byte hardware addresses, IPv4 (0x0800), 4-byte addresses.
  if (rd16(a) != 1 || rd16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4) return 0;
  uint16_t op = rd16(a + 6);
  if (op != 1 && op != 2) return 0;
  const uint8_t *sha = a + 8, *spa = a + 14, *tpa = a + 24;
  // A multicast/broadcast or zero sender hardware address can be neither answered nor trusted.
  if ((sha[0] & 1) || is_zero(sha, 6)) return 0;
  entry_t *claimed = lookup(r, spa, 4);
  if (claimed && !is_ours(r, sha)) duplicate(r, claimed, sha, 0, dup);
  if (op != 1) return 0;  // replies are never answered
  entry_t *e = lookup(r, tpa, 4);
  if (!e) return 0;
  if (memcmp(spa, tpa, 4) == 0) return 0;  // gratuitous request from another station
  // To the broadcast address or to this interface's MAC; anything else reached us only through
  // promiscuous mode and belongs to somebody else.
  if (!is_bcast(f) && memcmp(f, r->mac, 6) != 0) return 0;
  // Sender 0.0.0.0 (an RFC 5227 probe) is answered; loopback, multicast, broadcast senders not.
  uint32_t s = rd32(spa);
  if ((s >> 24) == 127 || (s >> 28) == 0xe || s == 0xffffffffu) return 0;
  if (claimed) return 0;  // a station using one of our addresses gets no answer from us
  if (!confirmed(r)) return 0;
  count(r, e->slot, C_REQUESTS);
  dup->answered = e->slot;
  memcpy(out, sha, 6);  // to the requester's hardware address, as the kernel does
  memcpy(out + 6, r->mac, 6);
  wr16(out + 12, ETH_P_ARP);
  uint8_t *o = out + ETH_HLEN_;
  wr16(o, 1);
  wr16(o + 2, ETH_P_IP);
  o[4] = 6;
  o[5] = 4;
  wr16(o + 6, 2);
  memcpy(o + 8, r->mac, 6);
  memcpy(o + 14, e->addr, 4);
  memcpy(o + 18, sha, 6);
  memcpy(o + 24, spa, 4);
  memset(out + ARP_LEN, 0, MIN_FRAME - ARP_LEN);
  return MIN_FRAME;
}

static int respond_ndp(responder_t *r, const uint8_t *f, size_t len, uint8_t *out, dup_t *dup) {
  const uint8_t *ip = f + ETH_HLEN_;
  if (len < ETH_HLEN_ + IP6_HLEN + 24) return 0;
  if ((ip[0] >> 4) != 6 || ip[6] != ICMPV6) return 0;
  uint32_t plen = rd16(ip + 4);
  // RFC 4861 §7.1.1/§7.1.2: ICMP length >= 24, within the frame; hop limit 255 (never forwarded).
  if (plen < 24 || ETH_HLEN_ + IP6_HLEN + plen > len) return 0;
  if (ip[7] != 255) return 0;
  const uint8_t *icmp = ip + IP6_HLEN;
  uint8_t type = icmp[0];
  if ((type != ND_NS && type != ND_NA) || icmp[1] != 0) return 0;
  const uint8_t *target = icmp + 8;
  if (target[0] == 0xff) return 0;  // target must not be multicast
  // Options: each of non-zero length and inside the message. Remember the link-layer address
  // option (source for NS, target for NA).
  const uint8_t *lla = NULL;
  const uint8_t *end = icmp + plen;
  for (const uint8_t *o = icmp + 24; o < end;) {
    if (o + 2 > end) return 0;
    size_t olen = (size_t)o[1] * 8;
    if (olen == 0 || o + olen > end) return 0;
    if (o[0] == (type == ND_NS ? 1 : 2) && olen >= 8) lla = o + 2;
    o += olen;
  }
  if (icmp6_sum(ip, plen) != 0xffff) return 0;
  const uint8_t *src = ip + 8, *dst = ip + 24;
  if (src[0] == 0xff) return 0;  // source must not be multicast
  entry_t *e = lookup(r, target, 16);
  if (type == ND_NA) {  // another station advertising one of our addresses?
    const uint8_t *mac = lla ? lla : f + 6;
    if (e && !is_ours(r, mac)) duplicate(r, e, mac, 1, dup);
    return 0;
  }
  // A DAD probe (source ::) is never answered, valid or not: the prober does not use the address.
  if (is_zero(src, 16)) return 0;
  if (!e) return 0;
  // Destination: the target's solicited-node group (address resolution) or the target itself
  // (neighbour unreachability detection), with the matching Ethernet destination.
  const uint8_t *t = e->addr;
  if (dst[0] == 0xff) {
    static const uint8_t snm[13] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    if (memcmp(dst, snm, 13) != 0 || memcmp(dst + 13, t + 13, 3) != 0) return 0;
    if (f[0] != 0x33 || f[1] != 0x33 || f[2] != 0xff || memcmp(f + 3, t + 13, 3) != 0) return 0;
  } else {
    if (memcmp(dst, t, 16) != 0 || memcmp(f, r->mac, 6) != 0) return 0;
  }
  const uint8_t *smac = lla ? lla : f + 6;
  if ((smac[0] & 1) || is_zero(smac, 6)) return 0;
  if (memcmp(src, t, 16) == 0) {  // someone solicits from our own address: it is using it
    if (!is_ours(r, smac)) duplicate(r, e, smac, 1, dup);
    return 0;
  }
  if (!confirmed(r)) return 0;
  count(r, e->slot, C_REQUESTS);
  dup->answered = e->slot;
  memcpy(out, smac, 6);
  memcpy(out + 6, r->mac, 6);
  write_ip6(out, t, src);  // from the target address itself, to the solicitor
  write_na(out, t, r->mac, 0x60);
  return NA_FRAME;
}

// Returns the length of the answer written to `out` (at least NA_FRAME bytes), or 0.
static int respond(responder_t *r, const uint8_t *f, size_t len, uint8_t *out, dup_t *dup) {
  dup->seen = 0;
  dup->answered = 0;
  if (len < ETH_HLEN_ || len > SLOT_SIZE) return 0;
  uint16_t type = rd16(f + 12);  // an 802.1Q/802.1ad tag here means "not for this interface"
  if (type == ETH_P_ARP) return respond_arp(r, f, len, out, dup);
  if (type == ETH_P_IPV6) return respond_ndp(r, f, len, out, dup);
  return 0;
}

static int write_garp(const uint8_t *mac, const uint8_t *ip4, int op, uint8_t *out) {
  memset(out, 0xff, 6);
  memcpy(out + 6, mac, 6);
  wr16(out + 12, ETH_P_ARP);
  uint8_t *o = out + ETH_HLEN_;
  wr16(o, 1);
  wr16(o + 2, ETH_P_IP);
  o[4] = 6;
  o[5] = 4;
  wr16(o + 6, (uint16_t)op);
  memcpy(o + 8, mac, 6);
  memcpy(o + 14, ip4, 4);
  // Target hardware address: zero in the request (RFC 5227 announcement), broadcast in the reply.
  memset(o + 18, op == 1 ? 0 : 0xff, 6);
  memcpy(o + 24, ip4, 4);
  memset(out + ARP_LEN, 0, MIN_FRAME - ARP_LEN);
  return MIN_FRAME;
}

static int write_unsolicited_na(const uint8_t *mac, const uint8_t *ip6, uint8_t *out) {
  static const uint8_t all_nodes[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
  memcpy(out, all_nodes_mac, 6);
  memcpy(out + 6, mac, 6);
  write_ip6(out, ip6, all_nodes);
  write_na(out, ip6, mac, 0x20);
  return NA_FRAME;
}

// ---------------------------------------------------------------------------------------------
// N-API plumbing.

#define CHECK(call)                                                                     \
  do {                                                                                  \
    if ((call) != napi_ok) {                                                            \
      const napi_extended_error_info *info_;                                            \
      napi_get_last_error_info(env, &info_);                                            \
      napi_throw_error(env, NULL, info_ && info_->error_message ? info_->error_message  \
                                                                 : #call " failed");     \
      return NULL;                                                                      \
    }                                                                                   \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error, errnum;
  napi_create_string_utf8(env, "EPACKET", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static void *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "wrong receiver");
    return NULL;
  }
  return data;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  void *d;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return -1;
  *data = d;
  return 0;
}

// --- Responder ---

static void responder_finalize(napi_env env, void *data, void *hint) {
  responder_t *r = data;
  if (r->counters_ref) napi_delete_reference(env, r->counters_ref);
  pthread_mutex_destroy(&r->lock);
  free(r->table);
  free(r);
}

// new Responder(mac: Buffer(6), counters: Uint32Array)
static napi_value responder_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  uint8_t *mac;
  size_t maclen;
  napi_typedarray_type tt;
  size_t n;
  void *cdata;
  bool is_ta = false;
  if (argc == 2) napi_is_typedarray(env, argv[1], &is_ta);
  if (argc < 2 || get_bytes(env, argv[0], &mac, &maclen) < 0 || maclen != 6 || !is_ta ||
      napi_get_typedarray_info(env, argv[1], &tt, &n, &cdata, NULL, NULL) != napi_ok || tt != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "Responder(mac: 6-byte Buffer, counters: Uint32Array)");
    return NULL;
  }
  responder_t *r = calloc(1, sizeof *r);
  if (!r || !(r->table = calloc(16, sizeof(entry_t)))) {
    free(r);
    return throw_errno(env, "Responder", ENOMEM);
  }
  r->cap = 16;
  r->deadline_ns = INT64_MAX;
  pthread_mutex_init(&r->lock, NULL);
  memcpy(r->mac, mac, 6);
  r->counters = cdata;
  r->n_slots = (uint32_t)(n / 4);
  r->env = env;
  CHECK(napi_create_reference(env, argv[1], 1, &r->counters_ref));
  CHECK(napi_wrap(env, self, r, responder_finalize, NULL, NULL));
  return self;
}

static int ip_arg(napi_env env, napi_value v, uint8_t **ip, size_t *len) {
  if (get_bytes(env, v, ip, len) < 0 || (*len != 4 && *len != 16)) {
    napi_throw_type_error(env, NULL, "address must be a 4- or 16-byte Buffer");
    return -1;
  }
  return 0;
}

// add(ip: Buffer, slot: number)
static napi_value responder_add(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  uint8_t *ip;
  size_t len;
  uint32_t slot;
  if (argc < 2 || ip_arg(env, argv[0], &ip, &len) < 0) return NULL;
  if (napi_get_value_uint32(env, argv[1], &slot) != napi_ok || slot >= r->n_slots) {
    napi_throw_range_error(env, NULL, "slot out of range");
    return NULL;
  }
  pthread_mutex_lock(&r->lock);
  int rc = table_add(r, ip, (int)len, slot);
  pthread_mutex_unlock(&r->lock);
  if (rc < 0) return throw_errno(env, "Responder.add", ENOMEM);
  return NULL;
}

// remove(ip: Buffer): after this returns the address is no longer answered.
static napi_value responder_remove(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  uint8_t *ip;
  size_t len;
  if (argc < 1 || ip_arg(env, argv[0], &ip, &len) < 0) return NULL;
  pthread_mutex_lock(&r->lock);
  table_remove(r, ip, (int)len);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

// setOurMacs(macs: Buffer of n*6 bytes): frames from these are never duplicates.
static napi_value responder_set_our(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  uint8_t *m;
  size_t len;
  if (argc < 1 || get_bytes(env, argv[0], &m, &len) < 0 || len % 6 || len / 6 > MAX_OUR_MACS) {
    napi_throw_type_error(env, NULL, "setOurMacs(Buffer of up to 64 MACs)");
    return NULL;
  }
  pthread_mutex_lock(&r->lock);
  r->n_our = (int)(len / 6);
  memcpy(r->our, m, len);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

// answerFor(ms: number): answer (and announce) for `ms` more milliseconds from now, until the next
// confirmation; Infinity removes the deadline, 0 stops answering at once.
static napi_value responder_answer_for(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  double ms;
  if (argc < 1 || napi_get_value_double(env, argv[0], &ms) != napi_ok || ms != ms) {
    napi_throw_type_error(env, NULL, "answerFor(ms: number)");
    return NULL;
  }
  int64_t deadline = ms >= 1e12 ? INT64_MAX : monotonic_ns() + (int64_t)(ms > 0 ? ms * 1e6 : 0);
  __atomic_store_n(&r->deadline_ns, deadline, __ATOMIC_RELEASE);
  return NULL;
}

// handle(frame: Buffer, out: Buffer(>=128)) -> reply length or 0; the same decision the receive
// thread makes. Returns the duplicate sighting, if any, as [slot, "aa:bb:..", "arp"|"ndp"] in
// place of a number when the frame was a claim by another station.
static napi_value responder_handle(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  uint8_t *f, *out;
  size_t flen, olen;
  if (argc < 2 || get_bytes(env, argv[0], &f, &flen) < 0 || get_bytes(env, argv[1], &out, &olen) < 0 || olen < 128) {
    napi_throw_type_error(env, NULL, "handle(frame: Buffer, out: Buffer of at least 128 bytes)");
    return NULL;
  }
  dup_t dup;
  pthread_mutex_lock(&r->lock);
  int n = respond(r, f, flen, out, &dup);
  pthread_mutex_unlock(&r->lock);
  if (!dup.seen) {
    CHECK(napi_create_int32(env, n, &result));
    return result;
  }
  char mac[18];
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", dup.mac[0], dup.mac[1], dup.mac[2], dup.mac[3], dup.mac[4], dup.mac[5]);
  napi_value v;
  CHECK(napi_create_array_with_length(env, 3, &result));
  CHECK(napi_create_uint32(env, dup.slot, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_string_utf8(env, mac, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_string_utf8(env, dup.proto ? "ndp" : "arp", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_element(env, result, 2, v));
  return result;
}

// announce(ip: Buffer, slot, out: Buffer) -> writes the gratuitous frames for `ip` into `out`
// (for tests); see PacketSocket.announce for sending.
static int build_announcement(responder_t *r, const uint8_t *ip, size_t len, uint8_t frames[2][128], int lens[2]) {
  if (len == 4) {
    lens[0] = write_garp(r->mac, ip, 1, frames[0]);
    lens[1] = write_garp(r->mac, ip, 2, frames[1]);
    return 2;
  }
  lens[0] = write_unsolicited_na(r->mac, ip, frames[0]);
  return 1;
}

static napi_value responder_announcement(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, buf;
  responder_t *r = unwrap_this(env, info, &argc, argv);
  if (!r) return NULL;
  uint8_t *ip;
  size_t len;
  if (argc < 1 || ip_arg(env, argv[0], &ip, &len) < 0) return NULL;
  uint8_t frames[2][128];
  int lens[2];
  int n = build_announcement(r, ip, len, frames, lens);
  CHECK(napi_create_array_with_length(env, (size_t)n, &result));
  for (int i = 0; i < n; i++) {
    CHECK(napi_create_buffer_copy(env, (size_t)lens[i], frames[i], NULL, &buf));
    CHECK(napi_set_element(env, result, (uint32_t)i, buf));
  }
  return result;
}

// --- PacketSocket ---

typedef struct {
  napi_env env;
  int fd;
  int stop_fd;
  int ifindex;
  int closed;
  int thread_started;
  int priority;  // 2 SCHED_FIFO, 1 raised nice, 0 default
  pthread_t thread;
  responder_t *r;
  napi_ref self;
  napi_ref responder_ref;
  napi_threadsafe_function tsfn;
  uint64_t send_errors;
  uint64_t received;
  uint8_t rx[SLOT_SIZE];
  uint8_t tx[128];
  uint8_t gtx[2][128];
} psock_t;

// Classic BPF: accept ARP, and ICMPv6 (no extension headers) of type 135 (NS) or 136 (NA);
// reject frames we sent ourselves and frames whose 802.1Q tag the driver moved into metadata
// (those belong to the VLAN sub-interface, not to the interface this socket is bound to).
static struct sock_filter filter_code[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 10, 0),
    /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 8),
    /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 7, 0),
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
    /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMPV6, 0, 3),
    /* 9 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
    /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_NS, 2, 0),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ND_NA, 1, 0),
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, 0),
    /* 13 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),
};

// Runs on the JavaScript thread for each duplicate the receive thread queued.
static void call_duplicate(napi_env env, napi_value js_cb, void *context, void *data) {
  dup_t *d = data;
  if (env && js_cb) {
    char mac[18];
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5]);
    napi_value argv[3], undef, ret;
    napi_create_uint32(env, d->slot, &argv[0]);
    napi_create_string_utf8(env, mac, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_string_utf8(env, d->proto ? "ndp" : "arp", NAPI_AUTO_LENGTH, &argv[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, js_cb, 3, argv, &ret);
  }
  free(d);
}

static void *rx_thread(void *arg) {
  psock_t *s = arg;
  // Answers are latency-critical and cheap: ask for real-time scheduling, else a higher nice
  // priority; both need CAP_SYS_NICE and are skipped without it.
  if (s->priority == 2) {
    struct sched_param sp = {.sched_priority = 10};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) {
      s->priority = setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10) == 0 ? 1 : 0;
    }
  }
  struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->stop_fd, .events = POLLIN}};
  for (;;) {
    int pr = poll(pfd, 2, -1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfd[1].revents) break;
    for (;;) {
      ssize_t len = recv(s->fd, s->rx, SLOT_SIZE, MSG_DONTWAIT | MSG_TRUNC);
      if (len < 0) break;  // EAGAIN: drained
      s->received++;
      if (len > SLOT_SIZE) continue;  // truncated: larger than anything we answer
      dup_t dup;
      pthread_mutex_lock(&s->r->lock);
      int n = respond(s->r, s->rx, (size_t)len, s->tx, &dup);
      pthread_mutex_unlock(&s->r->lock);
      if (n > 0) {
        if (send(s->fd, s->tx, (size_t)n, MSG_DONTWAIT) > 0) count(s->r, dup.answered, C_RESPONSES);
        else __atomic_fetch_add(&s->send_errors, 1, __ATOMIC_RELAXED);
      }
      if (dup.seen && s->tsfn) {
        dup_t *d = malloc(sizeof *d);  // rare path: another station claims an owned address
        if (d) {
          *d = dup;
          if (napi_call_threadsafe_function(s->tsfn, d, napi_tsfn_nonblocking) != napi_ok) free(d);
        }
      }
    }
  }
  return NULL;
}

static void stop_thread(psock_t *s) {
  if (!s->thread_started) return;
  uint64_t one = 1;
  ssize_t w = write(s->stop_fd, &one, sizeof one);
  (void)w;
  pthread_join(s->thread, NULL);
  s->thread_started = 0;
}

static void psock_shutdown(napi_env env, psock_t *s) {
  if (s->closed) return;
  s->closed = 1;
  stop_thread(s);
  if (s->fd >= 0) close(s->fd);
  if (s->stop_fd >= 0) close(s->stop_fd);
  s->fd = s->stop_fd = -1;
  if (s->tsfn) napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
  s->tsfn = NULL;
}

static void psock_cleanup_hook(void *arg) {
  psock_t *s = arg;
  psock_shutdown(s->env, s);
}

static void psock_finalize(napi_env env, void *data, void *hint) {
  psock_t *s = data;
  napi_remove_env_cleanup_hook(env, psock_cleanup_hook, s);
  psock_shutdown(env, s);
  if (s->responder_ref) napi_delete_reference(env, s->responder_ref);
  free(s);
}

// new PacketSocket(ifindex, responder, onDuplicate(slot, mac, protocol), realtime: boolean)
static napi_value psock_new(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int32_t ifindex;
  napi_valuetype cbtype = napi_undefined;
  void *rdata = NULL;
  bool realtime = false;
  if (argc >= 3) napi_typeof(env, argv[2], &cbtype);
  if (argc < 4 || napi_get_value_int32(env, argv[0], &ifindex) != napi_ok || ifindex <= 0 ||
      napi_unwrap(env, argv[1], &rdata) != napi_ok || !rdata || cbtype != napi_function ||
      napi_get_value_bool(env, argv[3], &realtime) != napi_ok) {
    napi_throw_type_error(env, NULL, "PacketSocket(ifindex, responder: Responder, onDuplicate: function, realtime: boolean)");
    return NULL;
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: receives nothing until bind
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sock_fprog prog = {.len = sizeof filter_code / sizeof filter_code[0], .filter = filter_code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_ATTACH_FILTER", e);
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // best effort; BPF drops them too
  int rcvbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "eventfd", e);
  }
  psock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    close(stop_fd);
    return throw_errno(env, "PacketSocket", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->stop_fd = stop_fd;
  s->ifindex = ifindex;
  s->r = rdata;
  s->priority = realtime ? 2 : 0;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "l2lb:duplicate", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[2], NULL, name, 64, 1, NULL, NULL, NULL, call_duplicate, &s->tsfn));
  CHECK(napi_create_reference(env, argv[1], 1, &s->responder_ref));
  CHECK(napi_wrap(env, self, s, psock_finalize, NULL, NULL));
  CHECK(napi_create_reference(env, self, 1, &s->self));  // strong while open
  napi_add_env_cleanup_hook(env, psock_cleanup_hook, s);
  int rc = pthread_create(&s->thread, NULL, rx_thread, s);
  if (rc != 0) {
    psock_shutdown(env, s);
    return throw_errno(env, "pthread_create", rc);
  }
  s->thread_started = 1;
  return self;
}

// announce(ip: Buffer, slot: number) -> frames sent (0 past the answer deadline), or -errno of the
// first failure.
// Gratuitous ARP request and reply for IPv4, one unsolicited NA to ff02::1 for IPv6.
static napi_value psock_announce(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  psock_t *s = unwrap_this(env, info, &argc, argv);
  if (!s) return NULL;
  uint8_t *ip;
  size_t len;
  uint32_t slot;
  if (argc < 2 || ip_arg(env, argv[0], &ip, &len) < 0 || napi_get_value_uint32(env, argv[1], &slot) != napi_ok) return NULL;
  if (!confirmed(s->r)) {
    napi_create_int32(env, 0, &out);
    return out;
  }
  int lens[2];
  int n = build_announcement(s->r, ip, len, s->gtx, lens), sent = 0, err = 0;
  for (int i = 0; i < n && !s->closed; i++) {
    if (send(s->fd, s->gtx[i], (size_t)lens[i], MSG_DONTWAIT) > 0) {
      sent++;
      count(s->r, slot, C_GRATUITOUS);
    } else if (!err) {
      err = errno;
    }
  }
  napi_create_int32(env, sent ? sent : -(err ? err : EBADF), &out);
  return out;
}

static napi_value psock_membership(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  psock_t *s = unwrap_this(env, info, &argc, argv);
  if (!s) return NULL;
  uint8_t *mac;
  size_t maclen;
  bool add;
  if (argc < 2 || get_bytes(env, argv[0], &mac, &maclen) < 0 || maclen != 6 || napi_get_value_bool(env, argv[1], &add) != napi_ok) {
    napi_throw_type_error(env, NULL, "membership(mac: 6-byte Buffer, add: boolean)");
    return NULL;
  }
  struct packet_mreq mr = {.mr_ifindex = s->ifindex, .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6};
  memcpy(mr.mr_address, mac, 6);
  int r = s->closed ? -1 : setsockopt(s->fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
  napi_get_boolean(env, r == 0, &out);
  return out;
}

static napi_value psock_promiscuous(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  psock_t *s = unwrap_this(env, info, &argc, argv);
  if (!s) return NULL;
  bool on;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "promiscuous(on: boolean)");
    return NULL;
  }
  struct packet_mreq mr = {.mr_ifindex = s->ifindex, .mr_type = PACKET_MR_PROMISC};
  int r = s->closed ? -1 : setsockopt(s->fd, SOL_PACKET, on ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
  napi_get_boolean(env, r == 0, &out);
  return out;
}

// stats() -> {received, sendErrors, priority: "realtime"|"nice"|"default"}
static napi_value psock_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  psock_t *s = unwrap_this(env, info, &argc, NULL);
  if (!s) return NULL;
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_create_double(env, (double)__atomic_load_n(&s->received, __ATOMIC_RELAXED), &v));
  CHECK(napi_set_named_property(env, o, "received", v));
  CHECK(napi_create_double(env, (double)__atomic_load_n(&s->send_errors, __ATOMIC_RELAXED), &v));
  CHECK(napi_set_named_property(env, o, "sendErrors", v));
  const char *p = s->priority == 2 ? "realtime" : s->priority == 1 ? "nice" : "default";
  CHECK(napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, o, "priority", v));
  return o;
}

static napi_value psock_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  psock_t *s = unwrap_this(env, info, &argc, NULL);
  if (!s) return NULL;
  if (!s->closed) {
    psock_shutdown(env, s);
    napi_remove_env_cleanup_hook(env, psock_cleanup_hook, s);
    if (s->self) napi_delete_reference(env, s->self);
    s->self = NULL;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor rmethods[] = {
      {"add", NULL, responder_add, NULL, NULL, NULL, napi_default_method, NULL},
      {"remove", NULL, responder_remove, NULL, NULL, NULL, napi_default_method, NULL},
      {"setOurMacs", NULL, responder_set_our, NULL, NULL, NULL, napi_default_method, NULL},
      {"answerFor", NULL, responder_answer_for, NULL, NULL, NULL, napi_default_method, NULL},
      {"handle", NULL, responder_handle, NULL, NULL, NULL, napi_default_method, NULL},
      {"announcement", NULL, responder_announcement, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_property_descriptor smethods[] = {
      {"announce", NULL, psock_announce, NULL, NULL, NULL, napi_default_method, NULL},
      {"membership", NULL, psock_membership, NULL, NULL, NULL, napi_default_method, NULL},
      {"promiscuous", NULL, psock_promiscuous, NULL, NULL, NULL, napi_default_method, NULL},
      {"stats", NULL, psock_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, psock_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value rcls, scls;
  CHECK(napi_define_class(env, "Responder", NAPI_AUTO_LENGTH, responder_new, NULL, 6, rmethods, &rcls));
  CHECK(napi_define_class(env, "PacketSocket", NAPI_AUTO_LENGTH, psock_new, NULL, 5, smethods, &scls));
  CHECK(napi_set_named_property(env, exports, "Responder", rcls));
  CHECK(napi_set_named_property(env, exports, "PacketSocket", scls));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
