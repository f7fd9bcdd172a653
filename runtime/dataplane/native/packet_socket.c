// l2lb packet socket: one AF_PACKET socket bound to one interface, filtered in the kernel so that
// only ARP and ICMPv6 neighbour solicitations/advertisements reach user space, read without
// buffering delay through libuv's poll, into a receive ring preallocated once and shared with
// JavaScript; replies are sent from a preallocated transmit buffer. Nothing is allocated per packet.
//
// JavaScript view (see ../socket.ts):
//   const s = new PacketSocket(ifindex, onPackets)   // onPackets(count) called with this === s
//   s.rx    Buffer  SLOTS * SLOT_SIZE bytes; packet i at offset i * SLOT_SIZE
//   s.meta  Int32Array  SLOTS * 2: [length on the wire, sll_pkttype] of packet i
//   s.tx    Buffer  SLOT_SIZE bytes; s.send(length) transmits its first `length` bytes
//   s.membership(mac6Buffer, add)  join/leave a link-layer multicast group; false if refused
//   s.promiscuous(on)              PACKET_MR_PROMISC membership (fallback when joining fails)
//   s.close()
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SLOTS 64
#define SLOT_SIZE 2048

typedef struct {
  napi_env env;
  int fd;
  int ifindex;
  int closed;
  uv_poll_t poll;
  napi_ref self;      // strong while open: keeps the JS object (and its buffers) alive
  napi_ref callback;
  napi_async_context async;
  uint8_t *rx;
  uint8_t *tx;
  int32_t *meta;
} psock;

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      const napi_extended_error_info *info_;                                         \
      napi_get_last_error_info(env, &info_);                                         \
      napi_throw_error(env, NULL, info_ && info_->error_message ? info_->error_message \
                                                                 : #call " failed");  \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, "EPACKET", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

// Classic BPF: accept ARP, and ICMPv6 (no extension headers) of type 135 (NS) or 136 (NA);
// reject frames we sent ourselves and frames whose 802.1Q tag the driver stripped into metadata
// (those belong to the VLAN sub-interface, not to the interface this socket is bound to).
static struct sock_filter filter_code[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 10, 0),
    /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 8),
    /* 4 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
    /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 7, 0),
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, 5),
    /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),
    /* 9 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),
    /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 2, 0),
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 136, 1, 0),
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, 0),
    /* 13 */ BPF_STMT(BPF_RET | BPF_K, 0x40000),
};

static void on_closed(uv_handle_t *handle) {
  psock *s = handle->data;
  napi_env env = s->env;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  if (s->callback) napi_delete_reference(env, s->callback);
  s->callback = NULL;
  if (s->async) napi_async_destroy(env, s->async);
  s->async = NULL;
  if (s->self) napi_delete_reference(env, s->self);  // the object may now be collected
  s->self = NULL;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  psock *s = handle->data;
  if (s->closed) return;
  napi_env env = s->env;
  // Drain until EAGAIN in batches of SLOTS; each batch is one call into JavaScript.
  for (;;) {
    int n = 0;
    while (n < SLOTS) {
      struct sockaddr_ll from;
      socklen_t fromlen = sizeof from;
      ssize_t len = recvfrom(s->fd, s->rx + (size_t)n * SLOT_SIZE, SLOT_SIZE, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fromlen);
      if (len < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN (drained) or a transient error: wait for the next readiness
      }
      s->meta[2 * n] = (int32_t)len;  // > SLOT_SIZE means truncated: JavaScript drops it
      s->meta[2 * n + 1] = from.sll_pkttype;
      n++;
    }
    if (n == 0) return;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value self, cb, arg, result;
    if (napi_get_reference_value(env, s->self, &self) == napi_ok &&
        napi_get_reference_value(env, s->callback, &cb) == napi_ok && napi_create_int32(env, n, &arg) == napi_ok) {
      napi_status st = napi_make_callback(env, s->async, self, cb, 1, &arg, &result);
      if (st == napi_pending_exception) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
      }
    }
    napi_close_handle_scope(env, scope);
    if (s->closed || n < SLOTS) return;
  }
}

static void finalize_psock(napi_env env, void *data, void *hint) {
  psock *s = data;
  // Only reachable after close() completed (the strong self reference is gone), or at
  // environment teardown, where libuv handles are already closed by Node.
  if (s->fd >= 0) close(s->fd);
  free(s->rx);
  free(s->tx);
  free(s->meta);
  free(s);
}

static void free_noop(napi_env env, void *data, void *hint) {}

static psock *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "not a PacketSocket");
    return NULL;
  }
  return data;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int32_t ifindex;
  napi_valuetype cbtype;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &ifindex) != napi_ok || ifindex <= 0) {
    napi_throw_type_error(env, NULL, "PacketSocket(ifindex: positive integer, onPackets: function)");
    return NULL;
  }
  CHECK(napi_typeof(env, argv[1], &cbtype));
  if (cbtype != napi_function) {
    napi_throw_type_error(env, NULL, "PacketSocket(ifindex, onPackets): onPackets must be a function");
    return NULL;
  }

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);  // protocol 0: nothing until bind
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sock_fprog prog = {.len = sizeof filter_code / sizeof filter_code[0], .filter = filter_code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_ATTACH_FILTER", e);
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // best effort; BPF also drops them
  int rcvbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }

  psock *s = calloc(1, sizeof *s);
  if (s) {
    s->rx = calloc(SLOTS, SLOT_SIZE);
    s->tx = calloc(1, SLOT_SIZE);
    s->meta = calloc(SLOTS * 2, sizeof(int32_t));
  }
  if (!s || !s->rx || !s->tx || !s->meta) {
    close(fd);
    if (s) {
      free(s->rx);
      free(s->tx);
      free(s->meta);
      free(s);
    }
    return throw_errno(env, "PacketSocket", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->ifindex = ifindex;

  napi_value rx, tx, metaab, meta, name;
  CHECK(napi_create_external_buffer(env, (size_t)SLOTS * SLOT_SIZE, s->rx, free_noop, NULL, &rx));
  CHECK(napi_create_external_buffer(env, SLOT_SIZE, s->tx, free_noop, NULL, &tx));
  CHECK(napi_create_external_arraybuffer(env, s->meta, SLOTS * 2 * sizeof(int32_t), free_noop, NULL, &metaab));
  CHECK(napi_create_typedarray(env, napi_int32_array, SLOTS * 2, metaab, 0, &meta));
  CHECK(napi_set_named_property(env, self, "rx", rx));
  CHECK(napi_set_named_property(env, self, "tx", tx));
  CHECK(napi_set_named_property(env, self, "meta", meta));
  CHECK(napi_wrap(env, self, s, finalize_psock, NULL, NULL));
  CHECK(napi_create_reference(env, self, 1, &s->self));
  CHECK(napi_create_reference(env, argv[1], 1, &s->callback));
  CHECK(napi_create_string_utf8(env, "l2lb:packet", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async));

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &s->poll, fd);
  if (r == 0) {
    s->poll.data = s;
    r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  }
  if (r != 0) {
    s->closed = 1;
    return throw_errno(env, "uv_poll", -r);
  }
  return self;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  psock *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  int32_t len;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &len) != napi_ok || len < 14 || len > SLOT_SIZE) {
    napi_throw_range_error(env, NULL, "send(length): 14..2048");
    return NULL;
  }
  ssize_t n = s->closed ? -EBADF : send(s->fd, s->tx, (size_t)len, MSG_DONTWAIT);
  // Returns bytes sent, or -errno (EAGAIN when the queue is full, ENETDOWN when the link is down):
  // the caller counts failures; throwing on the hot path would allocate.
  napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &out);
  return out;
}

static napi_value js_membership(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  psock *s = unwrap(env, info, &argc, argv);
  if (!s) return NULL;
  void *mac;
  size_t maclen;
  bool add;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &mac, &maclen) != napi_ok || maclen != 6 ||
      napi_get_value_bool(env, argv[1], &add) != napi_ok) {
    napi_throw_type_error(env, NULL, "membership(mac: 6-byte Buffer, add: boolean)");
    return NULL;
  }
  struct packet_mreq mr = {.mr_ifindex = s->ifindex, .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6};
  memcpy(mr.mr_address, mac, 6);
  int r = s->closed ? -1 : setsockopt(s->fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
  napi_get_boolean(env, r == 0, &out);
  return out;
}

static napi_value js_promiscuous(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  psock *s = unwrap(env, info, &argc, argv);
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

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  psock *s = unwrap(env, info, &argc, NULL);
  if (!s) return NULL;
  if (!s->closed) {
    s->closed = 1;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_closed);  // closes the fd and drops references
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default_method, NULL},
      {"membership", NULL, js_membership, NULL, NULL, NULL, napi_default_method, NULL},
      {"promiscuous", NULL, js_promiscuous, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls, v;
  CHECK(napi_define_class(env, "PacketSocket", NAPI_AUTO_LENGTH, construct, NULL, 4, methods, &cls));
  CHECK(napi_set_named_property(env, exports, "PacketSocket", cls));
  CHECK(napi_create_int32(env, SLOTS, &v));
  CHECK(napi_set_named_property(env, exports, "SLOTS", v));
  CHECK(napi_create_int32(env, SLOT_SIZE, &v));
  CHECK(napi_set_named_property(env, exports, "SLOT_SIZE", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
