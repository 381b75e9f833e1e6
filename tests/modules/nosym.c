/* A shared object named like a module that does not export vdev_module_nosym. */
int vdev_nosym_unrelated(void);
int vdev_nosym_unrelated(void)
{
    return 42;
}
