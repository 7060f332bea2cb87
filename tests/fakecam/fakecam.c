/*
 * A fake UVC webcam for the tests, as an LD_PRELOAD library: it makes one device path
 * (FAKECAM_PATH, e.g. /dev/video42) answer like a V4L2 capture node, so the runtime's real
 * v4l2 code (linuxvideo: open64, ioctl, mmap, poll, munmap, close; /dev listed with
 * opendir/readdir64) runs without a camera. Every other path and fd is passed through.
 *
 * Built by tests/tests/fake_camera.rs with the system C compiler:
 *   cc -shared -fPIC -O2 -o fakecam.so fakecam.c -ldl -lpthread
 *
 * Configuration (environment, read once at load):
 *   FAKECAM_PATH          the device path served (required; without it nothing is faked)
 *   FAKECAM_FORMATS       offered formats in ENUM_FMT order, e.g. "YUYV,MJPG" (default both)
 *   FAKECAM_SIZES         offered sizes, e.g. "160x120,320x240" (default those two)
 *   FAKECAM_FPS           the one frame rate offered (default 30)
 *   FAKECAM_YUYV          raw YUYV frame file; used when its length is the frame's size
 *                         (else a moving grey ramp is sent)
 *   FAKECAM_MJPEG         JPEG files separated by ':', sent in turn as MJPEG frames
 *   FAKECAM_UNPLUG_AFTER  unplug after N delivered frames: poll gives POLLERR, ioctls
 *                         ENODEV, open ENOENT, and the node leaves the /dev listing
 *   FAKECAM_REPLUG_MS     plug back in this many ms after the unplug (default: never)
 *   FAKECAM_UNPLUG_REPEAT "1": after each replug, unplug again after another UNPLUG_AFTER
 *                         frames (the soak bench, scripts/soak-kiosk.sh)
 *   FAKECAM_GARBAGE_EVERY every Nth MJPEG frame is garbage (alternately random bytes and
 *                         a JPEG cut in half)
 *   FAKECAM_STALL         "1": streams but never delivers a frame
 *   FAKECAM_LOG           file to append events to, one per line, with CLOCK_REALTIME
 *                         seconds first ("1712345678.123456 unplug")
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 16
#define MAX_BUFS 8
#define MAX_SIZES 8
#define MAX_JPEGS 8
#define MAX_DIRS 8

struct buf {
    size_t offset, length;
    void *ptr; /* the caller's mapping, NULL when unmapped */
    int queued;
    uint64_t queued_at; /* order of QBUF: DQBUF returns the oldest */
};

struct session {
    int fd; /* -1: free */
    int dead; /* opened before an unplug */
    uint32_t fourcc, width, height;
    int streaming;
    int nbufs;
    struct buf bufs[MAX_BUFS];
    int64_t next_frame_us;
    uint32_t sequence;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int configured;
static char dev_path[512], dev_dir[512], dev_name[256];
static uint32_t formats[4];
static int nformats;
static uint32_t sizes[MAX_SIZES][2];
static int nsizes;
static unsigned fps = 30;
static unsigned char *yuyv_data;
static size_t yuyv_len;
static unsigned char *jpegs[MAX_JPEGS];
static size_t jpeg_lens[MAX_JPEGS];
static int njpegs;
static long unplug_after = -1, replug_ms = -1, garbage_every;
static int stall;
static FILE *log_file;

static int plugged = 1, unplug_done;
static int64_t unplugged_at_us;
static int unplug_repeat;
static uint64_t frames_at_plug;
static uint64_t frames_delivered, qbuf_counter;
static struct session sessions[MAX_SESSIONS];
static DIR *listed_dirs[MAX_DIRS];
static int listed_injected[MAX_DIRS];

#define REAL(name) \
    static __typeof__(&name) real_##name; \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

static int64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void logf_(const char *fmt, ...) {
    if (!log_file) return;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    fprintf(log_file, "%lld.%06ld ", (long long)t.tv_sec, t.tv_nsec / 1000);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
}

static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = p ? (size_t)n : 0;
    return p;
}

static uint32_t fourcc_of(const char *s) {
    return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

__attribute__((constructor)) static void fakecam_init(void) {
    const char *p = getenv("FAKECAM_PATH");
    if (!p || !*p || strlen(p) >= sizeof dev_path) return;
    strcpy(dev_path, p);
    const char *slash = strrchr(dev_path, '/');
    if (!slash) return;
    snprintf(dev_dir, sizeof dev_dir, "%.*s", (int)(slash - dev_path), dev_path);
    if (!dev_dir[0]) strcpy(dev_dir, "/");
    snprintf(dev_name, sizeof dev_name, "%s", slash + 1);

    const char *f = getenv("FAKECAM_FORMATS");
    if (!f) f = "YUYV,MJPG";
    for (const char *s = f; strlen(s) >= 4 && nformats < 4; s += 4) {
        formats[nformats++] = fourcc_of(s);
        if (s[4] != ',') break;
        s++;
    }
    const char *z = getenv("FAKECAM_SIZES");
    if (!z) z = "160x120,320x240";
    for (const char *s = z; *s && nsizes < MAX_SIZES;) {
        unsigned w, h;
        int used = 0;
        if (sscanf(s, "%ux%u%n", &w, &h, &used) != 2) break;
        sizes[nsizes][0] = w;
        sizes[nsizes][1] = h;
        nsizes++;
        s += used;
        if (*s == ',') s++;
    }
    if (getenv("FAKECAM_FPS")) fps = (unsigned)atoi(getenv("FAKECAM_FPS"));
    if (fps == 0) fps = 30;
    if (getenv("FAKECAM_YUYV")) yuyv_data = read_whole(getenv("FAKECAM_YUYV"), &yuyv_len);
    const char *j = getenv("FAKECAM_MJPEG");
    if (j) {
        char *list = strdup(j), *save = NULL;
        for (char *t = strtok_r(list, ":", &save); t && njpegs < MAX_JPEGS;
             t = strtok_r(NULL, ":", &save)) {
            jpegs[njpegs] = read_whole(t, &jpeg_lens[njpegs]);
            if (jpegs[njpegs]) njpegs++;
        }
        free(list);
    }
    if (getenv("FAKECAM_UNPLUG_AFTER")) unplug_after = atol(getenv("FAKECAM_UNPLUG_AFTER"));
    if (getenv("FAKECAM_REPLUG_MS")) replug_ms = atol(getenv("FAKECAM_REPLUG_MS"));
    unplug_repeat = getenv("FAKECAM_UNPLUG_REPEAT") && !strcmp(getenv("FAKECAM_UNPLUG_REPEAT"), "1");
    if (getenv("FAKECAM_GARBAGE_EVERY")) garbage_every = atol(getenv("FAKECAM_GARBAGE_EVERY"));
    stall = getenv("FAKECAM_STALL") && !strcmp(getenv("FAKECAM_STALL"), "1");
    if (getenv("FAKECAM_LOG")) log_file = fopen(getenv("FAKECAM_LOG"), "a");
    for (int i = 0; i < MAX_SESSIONS; i++) sessions[i].fd = -1;
    configured = nformats > 0 && nsizes > 0;
    logf_("loaded %s", dev_path);
}

/* --- state, all under `mu` --- */

static void unplug(void) {
    plugged = 0;
    unplug_done = 1;
    unplugged_at_us = now_us();
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (sessions[i].fd >= 0) sessions[i].dead = 1;
    logf_("unplug after %llu frames", (unsigned long long)frames_delivered);
}

static void check_plug(void) {
    if (!plugged && replug_ms >= 0 && now_us() - unplugged_at_us >= replug_ms * 1000) {
        plugged = 1;
        if (unplug_repeat) {
            unplug_done = 0;
            frames_at_plug = frames_delivered;
        }
        logf_("replug");
    }
    if (plugged && !unplug_done && unplug_after >= 0 &&
        (long)(frames_delivered - frames_at_plug) >= unplug_after)
        unplug();
}

static struct session *session_of(int fd) {
    if (!configured || fd < 0) return NULL;
    for (int i = 0; i < MAX_SESSIONS; i++)
        if (sessions[i].fd == fd) return &sessions[i];
    return NULL;
}

static int is_our_path(const char *path) { return configured && path && !strcmp(path, dev_path); }

static size_t frame_size(uint32_t fourcc, uint32_t w, uint32_t h) {
    size_t n = (size_t)w * h * 2;
    if (fourcc == V4L2_PIX_FMT_MJPEG)
        for (int i = 0; i < njpegs; i++)
            if (jpeg_lens[i] > n) n = jpeg_lens[i];
    return n;
}

static int offers(uint32_t fourcc) {
    for (int i = 0; i < nformats; i++)
        if (formats[i] == fourcc) return 1;
    return 0;
}

/* As uvcvideo's try_format: an unknown format becomes the first one, and the size the
 * nearest offered one (least area outside the overlap). */
static void adjust_format(struct v4l2_pix_format *p) {
    if (!offers(p->pixelformat)) p->pixelformat = formats[0];
    uint64_t best = UINT64_MAX;
    int bi = 0;
    for (int i = 0; i < nsizes; i++) {
        uint64_t w = sizes[i][0], h = sizes[i][1];
        uint64_t ow = w < p->width ? w : p->width, oh = h < p->height ? h : p->height;
        uint64_t d = w * h + (uint64_t)p->width * p->height - 2 * ow * oh;
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    p->width = sizes[bi][0];
    p->height = sizes[bi][1];
    p->field = V4L2_FIELD_NONE;
    p->bytesperline = p->pixelformat == V4L2_PIX_FMT_YUYV ? p->width * 2 : 0;
    p->sizeimage = (uint32_t)frame_size(p->pixelformat, p->width, p->height);
    p->colorspace = V4L2_COLORSPACE_SRGB;
    p->priv = 0;
}

static void fill_frame(struct session *s, struct buf *b, struct v4l2_buffer *vb) {
    unsigned char *dst = b->ptr;
    size_t used;
    uint64_t n = frames_delivered;
    if (s->fourcc == V4L2_PIX_FMT_YUYV) {
        used = (size_t)s->width * s->height * 2;
        if (yuyv_data && yuyv_len == used) {
            memcpy(dst, yuyv_data, used);
        } else {
            for (size_t i = 0; i < used; i += 2) {
                dst[i] = (unsigned char)(16 + ((i / 2 + n * 4) % s->width) * 219 / s->width);
                dst[i + 1] = 128;
            }
        }
    } else {
        const unsigned char *src = njpegs ? jpegs[n % njpegs] : (const unsigned char *)"\xff\xd8\xff\xd9";
        size_t len = njpegs ? jpeg_lens[n % njpegs] : 4;
        if (garbage_every > 0 && (long)(n % garbage_every) == garbage_every - 1) {
            if ((n / garbage_every) % 2 == 0) {
                uint32_t x = (uint32_t)n * 2654435761u + 1;
                for (size_t i = 0; i < len; i++) {
                    x = x * 1103515245u + 12345u;
                    dst[i] = (unsigned char)(x >> 16);
                }
                used = len;
            } else {
                memcpy(dst, src, len / 2);
                used = len / 2;
            }
            logf_("garbage frame %llu", (unsigned long long)n);
        } else {
            memcpy(dst, src, len);
            used = len;
        }
    }
    vb->bytesused = (uint32_t)used;
    vb->field = V4L2_FIELD_NONE;
    vb->sequence = s->sequence++;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    vb->timestamp.tv_sec = t.tv_sec;
    vb->timestamp.tv_usec = t.tv_nsec / 1000;
    vb->flags = V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
    frames_delivered++;
}

/* POLLIN when a frame is due, POLLERR when unplugged or not streaming, 0 otherwise;
 * `wait_us` gets the time until the next frame. */
static short readiness(struct session *s, int64_t *wait_us) {
    check_plug();
    if (s->dead || !s->streaming) return POLLERR;
    *wait_us = INT64_MAX;
    if (stall) return 0;
    int any_queued = 0;
    for (int i = 0; i < s->nbufs; i++) any_queued |= s->bufs[i].queued;
    if (!any_queued) return 0;
    int64_t left = s->next_frame_us - now_us();
    if (left <= 0) return POLLIN | POLLRDNORM;
    *wait_us = left;
    return 0;
}

static int fail(int e) {
    errno = e;
    return -1;
}

static int fake_ioctl(struct session *s, unsigned long req, void *arg) {
    check_plug();
    if (s->dead) return fail(ENODEV);
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof *c);
        strcpy((char *)c->driver, "uvcvideo");
        strcpy((char *)c->card, "Fake UVC Camera");
        strcpy((char *)c->bus_info, "usb-fakecam-1");
        c->version = 0x060100;
        c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT;
        c->capabilities = c->device_caps | V4L2_CAP_META_CAPTURE | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *d = arg;
        if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= (uint32_t)nformats)
            return fail(EINVAL);
        uint32_t index = d->index;
        memset(d, 0, sizeof *d);
        d->index = index;
        d->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        d->pixelformat = formats[index];
        if (formats[index] == V4L2_PIX_FMT_MJPEG) {
            d->flags = V4L2_FMT_FLAG_COMPRESSED;
            strcpy((char *)d->description, "Motion-JPEG");
        } else {
            strcpy((char *)d->description, "YUYV 4:2:2");
        }
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *f = arg;
        if (!offers(f->pixel_format) || f->index >= (uint32_t)nsizes) return fail(EINVAL);
        f->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        f->discrete.width = sizes[f->index][0];
        f->discrete.height = sizes[f->index][1];
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *f = arg;
        if (!offers(f->pixel_format) || f->index > 0) return fail(EINVAL);
        f->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        f->discrete.numerator = 1;
        f->discrete.denominator = fps;
        return 0;
    }
    case VIDIOC_G_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        memset(&f->fmt.pix, 0, sizeof f->fmt.pix);
        f->fmt.pix.pixelformat = s->fourcc;
        f->fmt.pix.width = s->width;
        f->fmt.pix.height = s->height;
        adjust_format(&f->fmt.pix);
        return 0;
    }
    case VIDIOC_TRY_FMT:
    case VIDIOC_S_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        uint32_t aw = f->fmt.pix.width, ah = f->fmt.pix.height, af = f->fmt.pix.pixelformat;
        adjust_format(&f->fmt.pix);
        if (req == VIDIOC_S_FMT) {
            if (s->nbufs > 0) return fail(EBUSY);
            s->fourcc = f->fmt.pix.pixelformat;
            s->width = f->fmt.pix.width;
            s->height = f->fmt.pix.height;
            logf_("S_FMT asked %ux%u %.4s got %ux%u %.4s", aw, ah, (char *)&af, s->width, s->height,
                  (char *)&s->fourcc);
        }
        return 0;
    }
    case VIDIOC_G_PARM:
    case VIDIOC_S_PARM: {
        struct v4l2_streamparm *p = arg;
        if (p->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        /* One rate offered: a request for another gets this one, as uvcvideo does. */
        memset(&p->parm.capture, 0, sizeof p->parm.capture);
        p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
        p->parm.capture.timeperframe.numerator = 1;
        p->parm.capture.timeperframe.denominator = fps;
        p->parm.capture.readbuffers = (uint32_t)s->nbufs;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || r->memory != V4L2_MEMORY_MMAP)
            return fail(EINVAL);
        if (s->streaming) return fail(EBUSY);
        uint32_t n = r->count > MAX_BUFS ? MAX_BUFS : r->count;
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t len = (frame_size(s->fourcc, s->width, s->height) + page - 1) / page * page;
        s->nbufs = (int)n;
        for (uint32_t i = 0; i < n; i++) {
            s->bufs[i].offset = i * len;
            s->bufs[i].length = len;
            s->bufs[i].ptr = NULL;
            s->bufs[i].queued = 0;
        }
        r->count = n;
        r->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
        return 0;
    }
    case VIDIOC_QUERYBUF:
    case VIDIOC_QBUF: {
        struct v4l2_buffer *b = arg;
        if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->memory != V4L2_MEMORY_MMAP ||
            b->index >= (uint32_t)s->nbufs)
            return fail(EINVAL);
        struct buf *sb = &s->bufs[b->index];
        if (req == VIDIOC_QBUF) {
            if (sb->queued) return fail(EINVAL);
            sb->queued = 1;
            sb->queued_at = qbuf_counter++;
        }
        b->length = (uint32_t)sb->length;
        b->m.offset = (uint32_t)sb->offset;
        b->flags = V4L2_BUF_FLAG_MAPPED | (sb->queued ? V4L2_BUF_FLAG_QUEUED : 0);
        return 0;
    }
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *b = arg;
        if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->memory != V4L2_MEMORY_MMAP ||
            !s->streaming)
            return fail(EINVAL);
        /* Blocks like a driver opened without O_NONBLOCK: until the frame is due. */
        for (;;) {
            int64_t wait = 0;
            short r = readiness(s, &wait);
            if (r & POLLERR) return fail(s->dead ? ENODEV : EINVAL);
            if (r & POLLIN) break;
            pthread_mutex_unlock(&mu);
            usleep((useconds_t)(wait > 20000 ? 20000 : wait));
            pthread_mutex_lock(&mu);
        }
        int oldest = -1;
        for (int i = 0; i < s->nbufs; i++)
            if (s->bufs[i].queued &&
                (oldest < 0 || s->bufs[i].queued_at < s->bufs[oldest].queued_at))
                oldest = i;
        struct buf *sb = &s->bufs[oldest];
        if (!sb->ptr) return fail(EINVAL); /* never mapped: nothing to fill */
        sb->queued = 0;
        memset(b, 0, sizeof *b);
        b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b->memory = V4L2_MEMORY_MMAP;
        b->index = (uint32_t)oldest;
        b->length = (uint32_t)sb->length;
        b->m.offset = (uint32_t)sb->offset;
        fill_frame(s, sb, b);
        /* Paced at the rate; after a stall the schedule restarts instead of bursting. */
        int64_t period = 1000000 / fps, now = now_us();
        s->next_frame_us += period;
        if (s->next_frame_us < now) s->next_frame_us = now + period;
        return 0;
    }
    case VIDIOC_STREAMON:
    case VIDIOC_STREAMOFF: {
        const int *type = arg;
        if (*type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        if (req == VIDIOC_STREAMON) {
            if (s->nbufs == 0) return fail(EINVAL);
            s->streaming = 1;
            s->next_frame_us = now_us() + 1000000 / fps;
            logf_("STREAMON %ux%u %.4s", s->width, s->height, (char *)&s->fourcc);
        } else {
            s->streaming = 0;
            for (int i = 0; i < s->nbufs; i++) s->bufs[i].queued = 0;
            logf_("STREAMOFF");
        }
        return 0;
    }
    default:
        return fail(ENOTTY);
    }
}

/* --- the intercepted calls --- */

static int fake_open(const char *path, int flags) {
    pthread_mutex_lock(&mu);
    check_plug();
    int fd;
    if (!plugged) {
        errno = ENOENT;
        fd = -1;
    } else {
        struct session *s = NULL;
        for (int i = 0; i < MAX_SESSIONS && !s; i++)
            if (sessions[i].fd < 0) s = &sessions[i];
        /* An eventfd stands in for the node: a real fd number that close() can free. */
        fd = s ? eventfd(0, (flags & O_CLOEXEC) ? EFD_CLOEXEC : 0) : -1;
        if (!s) errno = EMFILE;
        if (fd >= 0) {
            memset(s, 0, sizeof *s);
            s->fd = fd;
            s->fourcc = formats[0];
            s->width = sizes[0][0];
            s->height = sizes[0][1];
        }
        logf_("open %s -> %d", path, fd);
    }
    pthread_mutex_unlock(&mu);
    return fd;
}

#define OPEN_MODE(flags, mode) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
        va_list ap; \
        va_start(ap, flags); \
        mode = va_arg(ap, mode_t); \
        va_end(ap); \
    }

int open(const char *path, int flags, ...) {
    OPEN_MODE(flags, mode);
    if (is_our_path(path)) return fake_open(path, flags);
    REAL(open);
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    OPEN_MODE(flags, mode);
    if (is_our_path(path)) return fake_open(path, flags);
    REAL(open64);
    return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    OPEN_MODE(flags, mode);
    if (is_our_path(path)) return fake_open(path, flags);
    REAL(openat);
    return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    OPEN_MODE(flags, mode);
    if (is_our_path(path)) return fake_open(path, flags);
    REAL(openat64);
    return real_openat64(dirfd, path, flags, mode);
}

int close(int fd) {
    REAL(close);
    if (configured) {
        pthread_mutex_lock(&mu);
        struct session *s = session_of(fd);
        if (s) {
            s->fd = -1;
            logf_("close %d", fd);
        }
        pthread_mutex_unlock(&mu);
    }
    return real_close(fd);
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (configured) {
        pthread_mutex_lock(&mu);
        struct session *s = session_of(fd);
        if (s) {
            int r = fake_ioctl(s, req, arg);
            int e = errno;
            pthread_mutex_unlock(&mu);
            errno = e;
            return r;
        }
        pthread_mutex_unlock(&mu);
    }
    REAL(ioctl);
    return real_ioctl(fd, req, arg);
}

static void *fake_mmap(struct session *s, size_t len, int prot, off_t off) {
    if (s->dead) {
        errno = ENODEV;
        return MAP_FAILED;
    }
    for (int i = 0; i < s->nbufs; i++) {
        struct buf *b = &s->bufs[i];
        if ((size_t)off == b->offset && len <= b->length) {
            REAL(mmap);
            void *p = real_mmap(NULL, len, prot, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) b->ptr = p;
            return p;
        }
    }
    errno = EINVAL;
    return MAP_FAILED;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (configured && fd >= 0) {
        pthread_mutex_lock(&mu);
        struct session *s = session_of(fd);
        if (s) {
            void *p = fake_mmap(s, len, prot, off);
            int e = errno;
            pthread_mutex_unlock(&mu);
            errno = e;
            return p;
        }
        pthread_mutex_unlock(&mu);
    }
    REAL(mmap);
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
    if (configured && fd >= 0) {
        pthread_mutex_lock(&mu);
        struct session *s = session_of(fd);
        if (s) {
            void *p = fake_mmap(s, len, prot, (off_t)off);
            int e = errno;
            pthread_mutex_unlock(&mu);
            errno = e;
            return p;
        }
        pthread_mutex_unlock(&mu);
    }
    REAL(mmap64);
    return real_mmap64(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
    if (configured) {
        /* The mapping is plain anonymous memory; forget it so no frame is written there. */
        pthread_mutex_lock(&mu);
        for (int i = 0; i < MAX_SESSIONS; i++)
            for (int j = 0; j < sessions[i].nbufs; j++)
                if (sessions[i].bufs[j].ptr == addr) sessions[i].bufs[j].ptr = NULL;
        pthread_mutex_unlock(&mu);
    }
    REAL(munmap);
    return real_munmap(addr, len);
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
    REAL(poll);
    if (!configured) return real_poll(fds, n, timeout);
    pthread_mutex_lock(&mu);
    int any = 0;
    for (nfds_t i = 0; i < n; i++) any |= session_of(fds[i].fd) != NULL;
    pthread_mutex_unlock(&mu);
    if (!any) return real_poll(fds, n, timeout);

    int64_t deadline = timeout < 0 ? INT64_MAX : now_us() + (int64_t)timeout * 1000;
    struct pollfd others[64];
    if (n > 64) return fail(EINVAL);
    for (;;) {
        int ready = 0;
        int64_t wait = INT64_MAX;
        pthread_mutex_lock(&mu);
        for (nfds_t i = 0; i < n; i++) {
            struct session *s = session_of(fds[i].fd);
            others[i] = fds[i];
            fds[i].revents = 0;
            if (s) {
                int64_t w = INT64_MAX;
                short r = readiness(s, &w);
                fds[i].revents = r & (fds[i].events | POLLERR | POLLHUP);
                if (w < wait) wait = w;
                others[i].fd = -1;
            }
        }
        pthread_mutex_unlock(&mu);
        for (nfds_t i = 0; i < n; i++) ready += fds[i].revents != 0;
        int64_t left = deadline == INT64_MAX ? INT64_MAX : deadline - now_us();
        int64_t step = ready ? 0 : wait < left ? wait : left;
        if (step > 20000) step = 20000; /* notice unplugs and replugs */
        if (step < 0) step = 0;
        int r = real_poll(others, n, (int)((step + 999) / 1000));
        if (r < 0) return r;
        for (nfds_t i = 0; i < n; i++)
            if (others[i].fd >= 0) {
                fds[i].revents = others[i].revents;
                ready += others[i].revents != 0;
            }
        if (ready || left <= 0) return ready;
    }
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
    REAL(select);
    int any = 0;
    if (configured) {
        pthread_mutex_lock(&mu);
        for (int fd = 0; fd < nfds; fd++)
            if ((rd && FD_ISSET(fd, rd)) || (ex && FD_ISSET(fd, ex))) any |= session_of(fd) != NULL;
        pthread_mutex_unlock(&mu);
    }
    if (!any) return real_select(nfds, rd, wr, ex, tv);
    struct pollfd p[64];
    nfds_t n = 0;
    for (int fd = 0; fd < nfds && n < 64; fd++) {
        short ev = (rd && FD_ISSET(fd, rd) ? POLLIN : 0) | (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
                   (ex && FD_ISSET(fd, ex) ? POLLPRI : 0);
        if (ev) p[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    int timeout = tv ? (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1;
    int r = poll(p, n, timeout);
    if (r < 0) return r;
    if (rd) FD_ZERO(rd);
    if (wr) FD_ZERO(wr);
    if (ex) FD_ZERO(ex);
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        /* select reports an error condition as readable, as the kernel does for v4l2. */
        if (rd && (p[i].revents & (POLLIN | POLLERR | POLLHUP))) FD_SET(p[i].fd, rd), count++;
        if (wr && (p[i].revents & POLLOUT)) FD_SET(p[i].fd, wr), count++;
        if (ex && (p[i].revents & POLLPRI)) FD_SET(p[i].fd, ex), count++;
    }
    return count;
}

/* The node appears in its folder's listing while plugged in: appended after the real
 * entries, once per opendir. */
DIR *opendir(const char *name) {
    REAL(opendir);
    DIR *d = real_opendir(name);
    if (d && configured) {
        size_t l = strlen(name);
        while (l > 1 && name[l - 1] == '/') l--;
        if (l == strlen(dev_dir) && !strncmp(name, dev_dir, l)) {
            pthread_mutex_lock(&mu);
            for (int i = 0; i < MAX_DIRS; i++)
                if (!listed_dirs[i]) {
                    listed_dirs[i] = d;
                    listed_injected[i] = 0;
                    break;
                }
            pthread_mutex_unlock(&mu);
        }
    }
    return d;
}

int closedir(DIR *d) {
    REAL(closedir);
    if (configured) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < MAX_DIRS; i++)
            if (listed_dirs[i] == d) listed_dirs[i] = NULL;
        pthread_mutex_unlock(&mu);
    }
    return real_closedir(d);
}

/* Whether `d` is a listing of the node's folder that still owes the node's entry. */
static int owes_entry(DIR *d) {
    int owe = 0;
    pthread_mutex_lock(&mu);
    check_plug();
    for (int i = 0; i < MAX_DIRS; i++)
        if (listed_dirs[i] == d && !listed_injected[i]) {
            listed_injected[i] = 1;
            owe = plugged;
        }
    pthread_mutex_unlock(&mu);
    return owe;
}

static __thread struct dirent64 fake_entry64;
static __thread struct dirent fake_entry;

struct dirent64 *readdir64(DIR *d) {
    REAL(readdir64);
    int e = errno;
    struct dirent64 *r = real_readdir64(d);
    if (r || errno != e || !configured || !owes_entry(d)) return r;
    memset(&fake_entry64, 0, sizeof fake_entry64);
    fake_entry64.d_ino = 424242;
    fake_entry64.d_type = DT_CHR;
    fake_entry64.d_reclen = sizeof fake_entry64;
    snprintf(fake_entry64.d_name, sizeof fake_entry64.d_name, "%s", dev_name);
    return &fake_entry64;
}

struct dirent *readdir(DIR *d) {
    REAL(readdir);
    int e = errno;
    struct dirent *r = real_readdir(d);
    if (r || errno != e || !configured || !owes_entry(d)) return r;
    memset(&fake_entry, 0, sizeof fake_entry);
    fake_entry.d_ino = 424242;
    fake_entry.d_type = DT_CHR;
    fake_entry.d_reclen = sizeof fake_entry;
    snprintf(fake_entry.d_name, sizeof fake_entry.d_name, "%s", dev_name);
    return &fake_entry;
}
