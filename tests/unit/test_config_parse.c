/* Grammar: every keyword, contexts, last-wins, includes, the command line after files, and
 * the snippets from the QNX documentation. Mistakes are in test_config_errors.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vdev/config.h>

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define CONF_DIR TEST_DATA_DIR "/config"

static struct vdev_config cfg;
static struct vdev_err err;

static void setup(void)
{
    vdev_config_init(&cfg);
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    vdev_config_free(&cfg);
}

static void parse_ok(const char *text)
{
    int rc = vdev_config_parse_string(&cfg, "t.conf", text, &err);
    ck_assert_msg(rc == 0, "'%s' refused: %s", text, err.msg);
}

static void pos_is(struct vdev_srcpos p, const char *file, unsigned line, unsigned col)
{
    ck_assert_str_eq(p.file, file);
    ck_assert_uint_eq(p.line, line);
    ck_assert_uint_eq(p.col, col);
}

/* The vdev's raw tokens, joined by single spaces. */
static const char *vdev_words(size_t i)
{
    static char buf[512];
    buf[0] = '\0';
    ck_assert_uint_lt(i, cfg.nvdevs);
    for (size_t k = 0; k < cfg.vdevs[i].ntokens; k++) {
        if (k)
            strcat(buf, " ");
        strcat(buf, cfg.vdevs[i].tokens[k].text);
    }
    return buf;
}

START_TEST(qnx_one_line_cpu_and_ram)
{
    parse_ok("cpu sched 8 ram 32m");
    ck_assert_uint_eq(cfg.ncpus, 1);
    ck_assert(cfg.cpus[0].sched_given);
    ck_assert_int_eq(cfg.cpus[0].sched, 8);
    ck_assert_uint_eq(cfg.nmem, 1);
    ck_assert(!cfg.mem[0].rom);
    ck_assert(!cfg.mem[0].start_given);
    ck_assert_uint_eq(cfg.mem[0].len, 32u << 20);
    pos_is(cfg.mem[0].pos, "t.conf", 1, 13);
}
END_TEST

/* qvm's policies on cpu lines: kept, not dropped (docs/config.md says what they do here). */
START_TEST(sched_policies_are_kept)
{
    parse_ok(
        "cpu sched 8 cpu sched 10r cpu sched 12f cpu sched 3o cpu sched 20,10,5,1000000,500000s");
    ck_assert_uint_eq(cfg.ncpus, 5);
    const int prio[] = {8, 10, 12, 3, 20};
    const char pol[] = {'\0', 'r', 'f', 'o', 's'};
    for (size_t i = 0; i < 5; i++) {
        ck_assert(cfg.cpus[i].sched_given);
        ck_assert_int_eq(cfg.cpus[i].sched, prio[i]);
        ck_assert_int_eq(cfg.cpus[i].sched_policy, pol[i]);
    }
}
END_TEST

START_TEST(line_breaks_do_not_matter)
{
    struct vdev_config other;
    vdev_config_init(&other);
    parse_ok("cpu sched 8 ram 32m");
    ck_assert_int_eq(vdev_config_parse_string(&other, "u", "cpu\n  sched 8\nram\n32m\n", &err), 0);
    ck_assert_uint_eq(other.ncpus, cfg.ncpus);
    ck_assert_int_eq(other.cpus[0].sched, cfg.cpus[0].sched);
    ck_assert_uint_eq(other.nmem, cfg.nmem);
    ck_assert_uint_eq(other.mem[0].len, cfg.mem[0].len);
    pos_is(other.mem[0].pos, "u", 3, 1);
    vdev_config_free(&other);
}
END_TEST

START_TEST(qnx_ram_forms)
{
    parse_ok("ram 1m,1023m\nram 1024M\nrom 0xfffc0000,256k\nram 0x80000000,0x4000000");
    ck_assert_uint_eq(cfg.nmem, 4);
    ck_assert(cfg.mem[0].start_given);
    ck_assert_uint_eq(cfg.mem[0].start, 1u << 20);
    ck_assert_uint_eq(cfg.mem[0].len, 1023u << 20);
    ck_assert(!cfg.mem[1].start_given);
    ck_assert_uint_eq(cfg.mem[1].len, 1u << 30);
    ck_assert(cfg.mem[2].rom);
    ck_assert(cfg.mem[2].start_given);
    ck_assert_uint_eq(cfg.mem[2].start, 0xfffc0000);
    ck_assert_uint_eq(cfg.mem[2].len, 256u << 10);
    ck_assert_uint_eq(cfg.mem[3].start, 0x80000000);
    ck_assert_uint_eq(cfg.mem[3].len, 0x4000000);
    ck_assert_uint_eq(cfg.first_ram_seq, 0);
    pos_is(cfg.mem[2].pos, "t.conf", 3, 1);
}
END_TEST

START_TEST(ram_to_the_top_of_memory)
{
    parse_ok("ram 0xfffffffffff00000,1m");
    ck_assert_uint_eq(cfg.mem[0].start, 0xfffffffffff00000ull);
}
END_TEST

START_TEST(first_ram_seq_is_the_first_ram_or_rom)
{
    parse_ok("cpu cpu rom 0,4k ram 1m");
    ck_assert_uint_eq(cfg.first_ram_seq, 2);
    parse_ok("ram 2m");
    ck_assert_uint_eq(cfg.first_ram_seq, 2);
}
END_TEST

START_TEST(qnx_cmdline)
{
    parse_ok("cmdline \"console=ttyS0 quiet\"");
    ck_assert_str_eq(cfg.cmdline, "console=ttyS0 quiet");
    pos_is(cfg.cmdline_pos, "t.conf", 1, 1);
    parse_ok("cmdline \"\"");
    ck_assert_str_eq(cfg.cmdline, ""); /* a later cmdline replaces the earlier one */
}
END_TEST

START_TEST(qnx_ser8250)
{
    parse_ok("vdev ser8250 loc io:0x2f8 intr ioapic:3");
    ck_assert_uint_eq(cfg.nvdevs, 1);
    ck_assert_str_eq(cfg.vdevs[0].type, "ser8250");
    pos_is(cfg.vdevs[0].pos, "t.conf", 1, 6);
    ck_assert_str_eq(vdev_words(0), "loc io:0x2f8 intr ioapic:3");
    pos_is(cfg.vdevs[0].tokens[3].pos, "t.conf", 1, 32);
    ck_assert_uint_eq(cfg.vdevs[0].tokens[3].seq, 5);
}
END_TEST

START_TEST(qnx_virtio_net_raw)
{
    parse_ok("vdev virtio-net name curly peer /dev/qvm/sys1/moe mac 52:54:00:12:34:56");
    ck_assert_str_eq(cfg.vdevs[0].type, "virtio-net");
    ck_assert_uint_eq(cfg.vdevs[0].ntokens, 6);
    ck_assert_str_eq(vdev_words(0), "name curly peer /dev/qvm/sys1/moe mac 52:54:00:12:34:56");
}
END_TEST

START_TEST(qnx_shmem_raw)
{
    parse_ok("vdev shmem deny pluto allow pluto*");
    ck_assert_str_eq(cfg.vdevs[0].type, "shmem");
    ck_assert_str_eq(vdev_words(0), "deny pluto allow pluto*");
}
END_TEST

/* `pass` is a vfio-pci vdev: `loc GUEST=HOST` splits into `loc GUEST host HOST`, the host
 * part keeping its own column; the other options stay raw for the module. */
START_TEST(qnx_pass_forms)
{
    parse_ok("ram 1m\npass loc pci:0:2.0=pci:0000:01:10.0 mac 00:11:22:33:44:55 vlan 5 managed\n"
             "pass loc pci:0x8086/0x10ca name vf\n"
             "pass loc pci:0:3=pci:0x8086/0x10ca/1\n"
             "pass loc \"pci:0:4.0=pci:1:0.0\"\n"
             "vdev ser8250");
    ck_assert_uint_eq(cfg.nvdevs, 5);
    ck_assert_str_eq(cfg.vdevs[0].type, "vfio-pci");
    pos_is(cfg.vdevs[0].pos, "t.conf", 2, 1);
    ck_assert_str_eq(vdev_words(0),
                     "loc pci:0:2.0 host pci:0000:01:10.0 mac 00:11:22:33:44:55 vlan 5 managed");
    pos_is(cfg.vdevs[0].tokens[0].pos, "t.conf", 2, 6);
    pos_is(cfg.vdevs[0].tokens[1].pos, "t.conf", 2, 10);
    pos_is(cfg.vdevs[0].tokens[2].pos, "t.conf", 2, 20);
    pos_is(cfg.vdevs[0].tokens[3].pos, "t.conf", 2, 20);
    ck_assert_str_eq(vdev_words(1), "host pci:0x8086/0x10ca name vf");
    pos_is(cfg.vdevs[1].tokens[1].pos, "t.conf", 3, 10);
    ck_assert_str_eq(vdev_words(2), "loc pci:0:3 host pci:0x8086/0x10ca/1");
    ck_assert_str_eq(vdev_words(3), "loc pci:0:4.0 host pci:1:0.0");
    pos_is(cfg.vdevs[3].tokens[3].pos, "t.conf", 5, 21); /* past the quote */
    ck_assert_str_eq(cfg.vdevs[4].type, "ser8250");
}
END_TEST

/* On the command line a column is an argument number, so the host part keeps it. */
START_TEST(pass_on_the_command_line)
{
    char *argv[] = {"pass", "loc", "pci:0:2.0=pci:1:0.0"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 3, argv, &err), 0);
    ck_assert_str_eq(vdev_words(0), "loc pci:0:2.0 host pci:1:0.0");
    pos_is(cfg.vdevs[0].tokens[3].pos, "command line", 1, 3);
}
END_TEST

START_TEST(system_first)
{
    parse_ok("# leading comment\nsystem sys0\nram 1m");
    ck_assert_str_eq(cfg.system, "sys0");
    pos_is(cfg.system_pos, "t.conf", 2, 1);
}
END_TEST

START_TEST(no_system)
{
    parse_ok("ram 1m");
    ck_assert_ptr_null(cfg.system);
}
END_TEST

START_TEST(cpu_count_and_options)
{
    parse_ok("cpu\ncpu runmask 0-1,3 sched 10r\ncpu sched 8 sched 6\ncpu runmask 63 runmask 2");
    ck_assert_uint_eq(cfg.ncpus, 4);
    ck_assert(!cfg.cpus[0].runmask_given);
    ck_assert(!cfg.cpus[0].sched_given);
    pos_is(cfg.cpus[0].pos, "t.conf", 1, 1);
    ck_assert(cfg.cpus[1].runmask_given);
    ck_assert_uint_eq(cfg.cpus[1].runmask, 0xb);
    ck_assert_int_eq(cfg.cpus[1].sched, 10); /* the policy letter is accepted and ignored */
    ck_assert_int_eq(cfg.cpus[2].sched, 6);  /* last wins */
    ck_assert(!cfg.cpus[2].runmask_given);
    ck_assert_uint_eq(cfg.cpus[3].runmask, 0x4); /* last wins */
    pos_is(cfg.cpus[3].pos, "t.conf", 4, 1);
}
END_TEST

START_TEST(cpu_runmask_forms)
{
    parse_ok("cpu runmask 63 cpu runmask 0-63 cpu runmask 5,1-2,5 cpu runmask 0 cpu sched 1f "
             "cpu sched 255o cpu sched 007");
    ck_assert_uint_eq(cfg.cpus[0].runmask, 1ull << 63);
    ck_assert_uint_eq(cfg.cpus[1].runmask, UINT64_MAX);
    ck_assert_uint_eq(cfg.cpus[2].runmask, 0x26);
    ck_assert_uint_eq(cfg.cpus[3].runmask, 1);
    ck_assert_int_eq(cfg.cpus[4].sched, 1);
    ck_assert_int_eq(cfg.cpus[5].sched, 255);
    ck_assert_int_eq(cfg.cpus[6].sched, 7);
}
END_TEST

START_TEST(load_forms)
{
    parse_ok("ram 1m\nload 0x100000,/boot/k.elf\nload bzImage\nload ./a,b\nload 0,x");
    ck_assert_uint_eq(cfg.nloads, 4);
    ck_assert(cfg.loads[0].addr_given);
    ck_assert_uint_eq(cfg.loads[0].addr, 0x100000);
    ck_assert_str_eq(cfg.loads[0].path, "/boot/k.elf");
    pos_is(cfg.loads[0].pos, "t.conf", 2, 1);
    ck_assert(!cfg.loads[1].addr_given);
    ck_assert_str_eq(cfg.loads[1].path, "bzImage"); /* strings: as given */
    ck_assert(!cfg.loads[2].addr_given);            /* no leading digit: all of it is a name */
    ck_assert_str_eq(cfg.loads[2].path, "./a,b");
    ck_assert(cfg.loads[3].addr_given);
    ck_assert_uint_eq(cfg.loads[3].addr, 0);
}
END_TEST

START_TEST(load_without_address_needs_no_ram)
{
    parse_ok("load bzImage\nram 1m");
    ck_assert_uint_eq(cfg.nloads, 1);
}
END_TEST

START_TEST(initrd_and_cmdline)
{
    parse_ok("initrd load /boot/initrd.img\ncmdline \"console=ttyS0\"\ninitrd load second.img");
    ck_assert_str_eq(cfg.initrd, "second.img"); /* a later initrd replaces the earlier one */
    pos_is(cfg.initrd_pos, "t.conf", 3, 1);
    ck_assert_str_eq(cfg.cmdline, "console=ttyS0");
}
END_TEST

START_TEST(reserve_forms)
{
    parse_ok("ram 1m\nreserve loc 0xfee00000,0x1000 intr ioapic:5\nreserve intr gic:33\n"
             "reserve loc io:0x80 loc io:0x90,2\nreserve loc pci:0:2");
    ck_assert_uint_eq(cfg.nreserves, 4);
    const struct vdev_reserve_cfg *r = cfg.reserves;
    pos_is(r[0].pos, "t.conf", 2, 1);
    ck_assert_int_eq(r[0].loc.kind, VDEV_LOC_MEM);
    ck_assert_uint_eq(r[0].loc.addr, 0xfee00000);
    ck_assert_uint_eq(r[0].loc.len, 0x1000);
    pos_is(r[0].loc_pos, "t.conf", 2, 9);
    ck_assert(r[0].intr.given);
    ck_assert_str_eq(r[0].intr.pic, "ioapic");
    ck_assert_uint_eq(r[0].intr.line, 5);
    pos_is(r[0].intr_pos, "t.conf", 2, 31);
    ck_assert_int_eq(r[1].loc.kind, VDEV_LOC_NONE);
    ck_assert_str_eq(r[1].intr.pic, "gic");
    ck_assert_uint_eq(r[1].intr.line, 33);
    ck_assert_int_eq(r[2].loc.kind, VDEV_LOC_IO); /* last wins */
    ck_assert_uint_eq(r[2].loc.addr, 0x90);
    ck_assert_uint_eq(r[2].loc.len, 2);
    ck_assert(!r[2].intr.given);
    ck_assert_int_eq(r[3].loc.kind, VDEV_LOC_PCI);
    ck_assert_uint_eq(r[3].loc.dev, 2);
}
END_TEST

START_TEST(reserve_io_before_ram_is_fine)
{
    parse_ok("reserve loc io:0x80\nreserve intr ioapic:2");
    ck_assert_uint_eq(cfg.nreserves, 2);
}
END_TEST

START_TEST(set_variables)
{
    parse_ok("set fdt-dump-file /tmp/x.dtb\nset exit-on-halt yes\nset acpi-dump-file a.bin\n"
             "set runtime-dir /run/vdev\nset fdt-dump-file /tmp/y.dtb\nset exit-on-halt no\n"
             "set halt-poll 500");
    ck_assert_uint_eq(cfg.nvars, 5); /* a later set replaces the value */
    ck_assert_str_eq(vdev_config_var(&cfg, "halt-poll"), "500");
    ck_assert_str_eq(vdev_config_var(&cfg, "fdt-dump-file"), "/tmp/y.dtb");
    ck_assert_str_eq(vdev_config_var(&cfg, "exit-on-halt"), "no");
    ck_assert_str_eq(vdev_config_var(&cfg, "acpi-dump-file"), "a.bin");
    ck_assert_str_eq(vdev_config_var(&cfg, "runtime-dir"), "/run/vdev");
    ck_assert_ptr_null(vdev_config_var(&cfg, "nope"));
    for (size_t i = 0; i < cfg.nvars; i++)
        if (strcmp(cfg.vars[i].name, "fdt-dump-file") == 0)
            pos_is(cfg.vars[i].pos, "t.conf", 5, 1);
}
END_TEST

START_TEST(dryrun_flag)
{
    parse_ok("ram 1m");
    ck_assert(!cfg.dryrun);
    parse_ok("dryrun");
    ck_assert(cfg.dryrun);
}
END_TEST

START_TEST(keywords_close_contexts)
{
    parse_ok("ram 1m\nvdev a x y\ncpu sched 5\nvdev b\nreserve intr p:1\nvdev c z\nset "
             "runtime-dir /r\ndryrun");
    ck_assert_uint_eq(cfg.nvdevs, 3);
    ck_assert_str_eq(vdev_words(0), "x y");
    ck_assert_str_eq(vdev_words(1), "");
    ck_assert_str_eq(vdev_words(2), "z");
    ck_assert_uint_eq(cfg.ncpus, 1);
    ck_assert_int_eq(cfg.cpus[0].sched, 5);
    ck_assert_uint_eq(cfg.nreserves, 1);
    ck_assert(cfg.dryrun);
}
END_TEST

START_TEST(quoted_words_stay_in_the_vdev)
{
    parse_ok("vdev virtio-net name \"cpu\" peer \"ram\" \"a b\"");
    ck_assert_uint_eq(cfg.ncpus, 0);
    ck_assert_uint_eq(cfg.nmem, 0);
    ck_assert_str_eq(vdev_words(0), "name cpu peer ram a b");
    ck_assert(cfg.vdevs[0].tokens[1].quoted);
    ck_assert(!cfg.vdevs[0].tokens[0].quoted);
}
END_TEST

START_TEST(vdev_loc_after_ram)
{
    parse_ok("ram 1m\nvdev pl011 loc 0x1c090000 intr gic:5\nvdev x loc mem:0xd0000000,0x1000");
    ck_assert_str_eq(vdev_words(0), "loc 0x1c090000 intr gic:5");
    ck_assert_str_eq(vdev_words(1), "loc mem:0xd0000000,0x1000");
}
END_TEST

START_TEST(vdev_non_memory_loc_before_ram)
{
    parse_ok("vdev ser8250 loc io:0x3f8 vdev net loc pci:0:3 vdev y name loc\nram 1m");
    ck_assert_uint_eq(cfg.nvdevs, 3);
    ck_assert_str_eq(vdev_words(2), "name loc");
}
END_TEST

START_TEST(file_relative_paths_and_includes)
{
    ck_assert_int_eq(vdev_config_parse_file(&cfg, CONF_DIR "/main.conf", &err), 0);
    ck_assert_str_eq(cfg.system, "incl");
    ck_assert_uint_eq(cfg.nmem, 1);
    ck_assert_uint_eq(cfg.nloads, 1);
    ck_assert_uint_eq(cfg.loads[0].addr, 0x200000);
    ck_assert_str_eq(cfg.loads[0].path, CONF_DIR "/sub/kernel.elf");
    pos_is(cfg.loads[0].pos, CONF_DIR "/sub/child.conf", 1, 1);
    ck_assert_str_eq(cfg.initrd, CONF_DIR "/sub/../initrd.img");
    ck_assert_str_eq(cfg.cmdline, "console=ttyS0 quiet");
    ck_assert_uint_eq(cfg.ncpus, 1);
    ck_assert_int_eq(cfg.cpus[0].sched, 8);
    pos_is(cfg.cpus[0].pos, CONF_DIR "/main.conf", 5, 1);
}
END_TEST

START_TEST(relative_file_from_cwd)
{
    ck_assert_int_eq(chdir(CONF_DIR), 0);
    ck_assert_int_eq(vdev_config_parse_file(&cfg, "main.conf", &err), 0);
    ck_assert_str_eq(cfg.loads[0].path, "sub/kernel.elf");
    ck_assert_str_eq(cfg.initrd, "sub/../initrd.img");
    pos_is(cfg.mem[0].pos, "main.conf", 3, 1);
}
END_TEST

START_TEST(options_after_file_on_command_line)
{
    char *argv[] = {"@" CONF_DIR "/guest.conf", "set", "fdt-dump-file", "/tmp/x", "dryrun"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 5, argv, &err), 0);
    ck_assert_str_eq(cfg.system, "sys0");
    ck_assert_uint_eq(cfg.nmem, 1);
    ck_assert_uint_eq(cfg.mem[0].start, 0x80000000);
    ck_assert_uint_eq(cfg.mem[0].len, 64u << 20);
    ck_assert_uint_eq(cfg.ncpus, 1);
    ck_assert_str_eq(vdev_words(0), "loc io:0x3f8 intr ioapic:4"); /* `set` closed the vdev */
    ck_assert_str_eq(vdev_config_var(&cfg, "fdt-dump-file"), "/tmp/x");
    pos_is(cfg.vars[0].pos, "command line", 1, 2);
    ck_assert(cfg.dryrun);
}
END_TEST

START_TEST(command_line_continues_the_files_context)
{
    char *argv[] = {"@" CONF_DIR "/open_cpu.conf", "sched", "6"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 3, argv, &err), 0);
    ck_assert_uint_eq(cfg.ncpus, 1);
    ck_assert_uint_eq(cfg.cpus[0].runmask, 2);
    ck_assert_int_eq(cfg.cpus[0].sched, 6);
}
END_TEST

START_TEST(later_call_continues_open_vdev)
{
    ck_assert_int_eq(vdev_config_parse_file(&cfg, CONF_DIR "/guest.conf", &err), 0);
    char *argv[] = {"hostdev", "stdout"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 2, argv, &err), 0);
    ck_assert_uint_eq(cfg.nvdevs, 1);
    ck_assert_str_eq(vdev_words(0), "loc io:0x3f8 intr ioapic:4 hostdev stdout");
    const struct vdev_token *t = &cfg.vdevs[0].tokens[5];
    pos_is(t->pos, "command line", 1, 2);
    ck_assert_uint_gt(t->seq, cfg.vdevs[0].tokens[4].seq);
    ck_assert_ptr_null(t->dir);
    ck_assert_str_eq(cfg.vdevs[0].tokens[0].dir, CONF_DIR);
}
END_TEST

START_TEST(parse_strings_append)
{
    parse_ok("ram 1m cpu");
    parse_ok("cpu vdev a");
    parse_ok("x");
    ck_assert_uint_eq(cfg.ncpus, 2);
    ck_assert_str_eq(vdev_words(0), "x");
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "t", NULL, &err), 0);
}
END_TEST

START_TEST(positions_survive_parsing)
{
    char *name = strdup("generated.conf");
    ck_assert_int_eq(vdev_config_parse_string(&cfg, name, "ram 1m vdev a b", &err), 0);
    free(name);
    pos_is(cfg.mem[0].pos, "generated.conf", 1, 1);
    pos_is(cfg.vdevs[0].tokens[0].pos, "generated.conf", 1, 15);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config_parse");
    TCase *tc = tcase_create("qnx_snippets");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, qnx_one_line_cpu_and_ram);
    tcase_add_test(tc, sched_policies_are_kept);
    tcase_add_test(tc, line_breaks_do_not_matter);
    tcase_add_test(tc, qnx_ram_forms);
    tcase_add_test(tc, qnx_cmdline);
    tcase_add_test(tc, qnx_ser8250);
    tcase_add_test(tc, qnx_virtio_net_raw);
    tcase_add_test(tc, qnx_shmem_raw);
    tcase_add_test(tc, qnx_pass_forms);
    tcase_add_test(tc, pass_on_the_command_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("keywords");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ram_to_the_top_of_memory);
    tcase_add_test(tc, first_ram_seq_is_the_first_ram_or_rom);
    tcase_add_test(tc, system_first);
    tcase_add_test(tc, no_system);
    tcase_add_test(tc, cpu_count_and_options);
    tcase_add_test(tc, cpu_runmask_forms);
    tcase_add_test(tc, load_forms);
    tcase_add_test(tc, load_without_address_needs_no_ram);
    tcase_add_test(tc, initrd_and_cmdline);
    tcase_add_test(tc, reserve_forms);
    tcase_add_test(tc, reserve_io_before_ram_is_fine);
    tcase_add_test(tc, set_variables);
    tcase_add_test(tc, dryrun_flag);
    suite_add_tcase(s, tc);

    tc = tcase_create("contexts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, keywords_close_contexts);
    tcase_add_test(tc, quoted_words_stay_in_the_vdev);
    tcase_add_test(tc, vdev_loc_after_ram);
    tcase_add_test(tc, vdev_non_memory_loc_before_ram);
    tcase_add_test(tc, parse_strings_append);
    tcase_add_test(tc, positions_survive_parsing);
    suite_add_tcase(s, tc);

    tc = tcase_create("files_and_args");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, file_relative_paths_and_includes);
    tcase_add_test(tc, relative_file_from_cwd);
    tcase_add_test(tc, options_after_file_on_command_line);
    tcase_add_test(tc, command_line_continues_the_files_context);
    tcase_add_test(tc, later_call_continues_open_vdev);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
