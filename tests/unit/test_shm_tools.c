/* Host shmem objects seen by the tools and by other users: listing, permissions (mode, gid,
 * another uid), corrupt or foreign objects under the prefix. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "shm_object_internal.h"
#include "shm_test_util.h"

struct found {
    const char *want;
    int seen;
    struct shm_obj_info info;
};

static void collect(const struct shm_obj_info *info, void *arg)
{
    struct found *f = arg;
    if (strcmp(info->name, f->want) == 0) {
        f->seen++;
        f->info = *info;
    }
}

START_TEST(test_list_shows_clients)
{
    const char *name = tname("list");
    struct chan ch;
    chan_init(&ch);
    struct shm_obj *o;
    struct shm_open_args a = open_args(3, "alpha");
    a.mode = 0640;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *co;
        struct shm_open_args ca = open_args(3, "beta");
        CHILD_CHECK(shm_obj_open(name, &ca, &co, NULL, 0) == SHM_OK);
        struct shm_client *cc[2];
        CHILD_CHECK(shm_client_attach(co, count_changed, &cnt, &cc[0]) == SHM_OK);
        CHILD_CHECK(shm_client_attach(co, count_changed, &cnt, &cc[1]) == SHM_OK);
        send_byte(ch.to_parent[1], 'r');
        recv_byte(ch.to_child[0], 10000);
        shm_obj_close(co);
        _exit(0);
    }
    ck_assert_int_eq(recv_byte(ch.to_parent[0], 5000), 'r');
    struct found f = {.want = name};
    ck_assert_int_ge(shm_obj_list(collect, &f), 1);
    ck_assert_int_eq(f.seen, 1);
    ck_assert_uint_eq(f.info.pages, 3);
    ck_assert_uint_eq(f.info.mode, 0640);
    ck_assert_uint_eq(f.info.uid, geteuid());
    ck_assert(!f.info.persistent);
    ck_assert(!f.info.corrupt);
    ck_assert_uint_eq(f.info.users, 2);
    ck_assert_uint_eq(f.info.attached, 0x7);
    ck_assert_int_eq(f.info.clients[0].pid, getpid());
    ck_assert_str_eq(f.info.clients[0].who, "alpha");
    ck_assert_int_eq(f.info.clients[1].pid, pid);
    ck_assert_str_eq(f.info.clients[2].who, "beta");
    ck_assert_int_eq(f.info.clients[3].pid, 0);
    send_byte(ch.to_child[1], 'q');
    ck_assert_int_eq(wait_child(pid), 0);
    shm_obj_close(o);
    f.seen = 0;
    shm_obj_list(collect, &f);
    ck_assert_int_eq(f.seen, 0);
}
END_TEST

START_TEST(test_list_reclaims_dead)
{
    const char *name = tname("ldead");
    /* A persistent region whose only user died: listed without it; a plain one: gone. */
    ck_assert_int_eq(shm_obj_create_persistent(name, 1, 0600, (gid_t)-1, NULL, 0), SHM_OK);
    const char *plain = tname("lplain");
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *o, *p;
        struct shm_open_args a = open_args(1, "dead");
        CHILD_CHECK(shm_obj_open(name, &a, &o, NULL, 0) == SHM_OK);
        CHILD_CHECK(shm_obj_open(plain, &a, &p, NULL, 0) == SHM_OK);
        struct shm_client *c;
        static struct counter cnt;
        CHILD_CHECK(shm_client_attach(o, count_changed, &cnt, &c) == SHM_OK);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    struct found f = {.want = name}, g = {.want = plain};
    shm_obj_list(collect, &f);
    shm_obj_list(collect, &g);
    ck_assert_int_eq(f.seen, 1);
    ck_assert(f.info.persistent);
    ck_assert_uint_eq(f.info.users, 0);
    ck_assert_uint_eq(f.info.attached, 0);
    ck_assert_int_eq(g.seen, 0);
    ck_assert_int_eq(shm_obj_remove(name), 0);
}
END_TEST

START_TEST(test_mode_refuses_other_uid)
{
    if (geteuid() != 0)
        return; /* needs root to become another uid: nothing to test */
    const char *name = tname("mode");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    a.mode = 0600;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    const char *open_name = tname("open");
    struct shm_obj *o2;
    a.mode = 0666;
    ck_assert_int_eq(shm_obj_open(open_name, &a, &o2, NULL, 0), SHM_OK);
    pid_t pid = fork();
    if (pid == 0) {
        CHILD_CHECK(setgid(65534) == 0 && setuid(65534) == 0);
        struct shm_obj *co;
        char why[128] = "";
        struct shm_open_args ca = open_args(1, NULL);
        CHILD_CHECK(shm_obj_open(name, &ca, &co, why, sizeof(why)) == SHM_NO_PERMISSION);
        CHILD_CHECK(strstr(why, "0600") && strstr(why, "65534"));
        ca.create = false;
        CHILD_CHECK(shm_obj_open(name, &ca, &co, why, sizeof(why)) == SHM_NO_PERMISSION);
        /* The world-writable one opens; remove of a root object is refused (sticky dir). */
        CHILD_CHECK(shm_obj_open(open_name, &ca, &co, why, sizeof(why)) == SHM_OK);
        shm_obj_close(co);
        CHILD_CHECK(shm_obj_remove(name) == -1);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    shm_obj_close(o2);
    shm_obj_close(o);
}
END_TEST

START_TEST(test_gid)
{
    const char *name = tname("gid");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    a.mode = 0660;
    a.gid = getegid() == 0 ? 100 : getegid(); /* root may give any group */
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    char path[256];
    snprintf(path, sizeof(path), "/dev/shm/" SHM_OBJ_PREFIX "%s", name);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_gid, a.gid);
    ck_assert_uint_eq(st.st_mode & 0777, 0660);
    shm_obj_close(o);
}
END_TEST

/* Writes a raw object under the region prefix. */
static void raw_object(const char *name, size_t size, int fill)
{
    char path[256];
    shm_obj_path(path, sizeof(path), name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    if (size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        memset(p, fill, size);
        munmap(p, size);
    }
    close(fd);
}

START_TEST(test_corrupt_objects_refused)
{
    const char *name = tname("bad");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    char why[128];
    /* Garbage, too small, empty. */
    const size_t sizes[] = {4 * SHM_OBJ_PAGE, 100, 0};
    for (unsigned i = 0; i < 3; i++) {
        raw_object(name, sizes[i], 0xff);
        why[0] = 0;
        ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_UNKNOWN);
        ck_assert(why[0]);
        struct found f = {.want = name};
        shm_obj_list(collect, &f);
        ck_assert_int_eq(f.seen, 1);
        ck_assert(f.info.corrupt);
        ck_assert_int_eq(shm_obj_remove(name), 0);
    }
    /* A valid header whose page count does not match the object's size. */
    ck_assert_int_eq(shm_obj_create_persistent(name, 4, 0600, (gid_t)-1, NULL, 0), SHM_OK);
    char path[256];
    shm_obj_path(path, sizeof(path), name);
    int fd = shm_open(path, O_RDWR, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, SHM_HDR_SIZE + 2 * SHM_OBJ_PAGE), 0);
    close(fd);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(why, "size"));
    /* Huge page count. */
    fd = shm_open(path, O_RDWR, 0);
    struct shm_header *h = mmap(NULL, SHM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(h, MAP_FAILED);
    h->pages = ~0ull;
    munmap(h, SHM_HDR_SIZE);
    close(fd);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(why, "pages"));
    ck_assert_int_eq(shm_obj_remove(name), 0);
}
END_TEST

START_TEST(test_hostile_slots_bounded)
{
    /* Out-of-range owners and bits in the header are ignored, never followed. */
    const char *name = tname("host");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    struct shm_header *h = o->hdr;
    atomic_store(&h->clients[3].user, 0x7fffffffu);
    atomic_fetch_or(&h->attached, 0xffff0000u | 1u << 3);
    atomic_store(&h->users[40].state, 77);
    shm_client_notify(c, ~0u); /* client 3's owner is out of range: skipped */
    ck_assert_uint_eq(shm_client_read_status(c) >> 16, 0x9);
    struct found f = {.want = name};
    shm_obj_list(collect, &f);
    ck_assert_int_eq(f.seen, 1);
    ck_assert_int_eq(f.info.clients[3].pid, 0);
    shm_obj_close(o);
}
END_TEST

static uint32_t rnd(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8 ^ *st << 13;
}

START_TEST(test_scribbled_header_survives)
{
    /* Every field but the mutexes overwritten with garbage between operations: no crash, no
     * out-of-bounds access (the ASan build checks), and the region still works after. */
    const char *name = tname("scrib");
    struct shm_obj *o;
    struct shm_open_args a = open_args(2, "victim");
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c[i]), SHM_OK);
    struct shm_header *h = o->hdr;
    uint32_t st = 12345;
    for (int round = 0; round < 300; round++) {
        for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
            atomic_store(&h->clients[i].user, rnd(&st) % 4 ? rnd(&st) % 70 : rnd(&st));
            atomic_store(&h->clients[i].pending, rnd(&st));
            atomic_store(&h->clients[i].seq, rnd(&st));
        }
        for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++) {
            if (u == 0)
                continue; /* our own slot: scribbling it only makes us lose our clients */
            atomic_store(&h->users[u].state, rnd(&st) % 3);
            h->users[u].pid = (int32_t)rnd(&st);
            memset(h->users[u].who, 'A' + (int)(rnd(&st) % 26), sizeof(h->users[u].who));
        }
        atomic_store(&h->attached, rnd(&st));
        shm_client_notify(c[rnd(&st) % 2], rnd(&st) % 2 ? ~0u : rnd(&st));
        shm_client_read_status(c[rnd(&st) % 2]);
        shm_client_pending(c[0]);
        struct shm_client *extra;
        if (shm_client_attach(o, count_changed, &cnt, &extra) == SHM_OK)
            shm_client_detach(extra);
        if (round % 50 == 0) {
            struct found f = {.want = name};
            shm_obj_list(collect, &f);
        }
    }
    /* Back to a sane state: repair as after a crash, then the region works. */
    ck_assert_int_eq(pthread_mutex_lock(&h->lock), 0);
    for (unsigned u = 1; u < SHM_OBJ_MAX_USERS; u++)
        atomic_store(&h->users[u].state, SHM_USER_FREE);
    atomic_store(&h->attached, 0x3);
    atomic_store(&h->clients[0].user, 0);
    atomic_store(&h->clients[1].user, 0);
    shm_hdr_repair(h);
    pthread_mutex_unlock(&h->lock);
    shm_client_read_status(c[1]);
    shm_client_notify(c[0], ~0u);
    ck_assert_uint_eq(shm_client_read_status(c[1]), 0x3u << 16 | 1u);
    shm_obj_close(o);
}
END_TEST

/* Replaces the library's shm_object_reap.c (link-time: vdev_shm is an archive). */
static int reap_age_s = 60;
int shm_tmp_reap_age_s(void)
{
    return reap_age_s;
}

START_TEST(test_list_reaps_dead_temporaries)
{
    /* A creator that died before publishing left its temporary object behind. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(wait_child(pid), 0);
    char dead[96], live[96], full[160];
    snprintf(dead, sizeof(dead), "/" SHM_TMP_PREFIX "%d.7", (int)pid);
    snprintf(live, sizeof(live), "/" SHM_TMP_PREFIX "%d.7", (int)getpid());
    const char *names[2] = {dead, live};
    for (int i = 0; i < 2; i++) {
        int fd = shm_open(names[i], O_RDWR | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    struct found f = {.want = "nothing"};
    shm_obj_list(collect, &f);
    snprintf(full, sizeof(full), "/dev/shm%s", dead);
    ck_assert_int_eq(access(full, F_OK), 0); /* too young: may be a creation in progress */
    reap_age_s = 0;
    shm_obj_list(collect, &f);
    ck_assert_int_eq(access(full, F_OK), -1); /* its creator is gone: reaped */
    snprintf(full, sizeof(full), "/dev/shm%s", live);
    ck_assert_int_eq(access(full, F_OK), 0); /* ours: kept */
    shm_unlink(live);
}
END_TEST

Suite *shm_tools_suite(void);
Suite *shm_tools_suite(void)
{
    Suite *s = suite_create("shm_tools");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_list_shows_clients);
    tcase_add_test(tc, test_list_reclaims_dead);
    tcase_add_test(tc, test_mode_refuses_other_uid);
    tcase_add_test(tc, test_gid);
    tcase_add_test(tc, test_corrupt_objects_refused);
    tcase_add_test(tc, test_hostile_slots_bounded);
    tcase_add_test(tc, test_list_reaps_dead_temporaries);
    tcase_add_test(tc, test_scribbled_header_survives);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shm_tools_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
