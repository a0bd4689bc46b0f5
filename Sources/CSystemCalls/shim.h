// Linux calls Swift cannot make itself: prctl is variadic, malloc.h is not in the Glibc
// module, and glibc's posix_spawn extensions are declared only under _GNU_SOURCE.
// Nothing else belongs here.
#include <sys/prctl.h>
#include <malloc.h>
#include <spawn.h>
#include <fcntl.h>

static inline int slipway_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }
/// Gives memory freed by the allocator back to the system (glibc keeps it otherwise).
static inline int slipway_release_free_memory(void) { return malloc_trim(0); }

// glibc 2.34, 2.29 and 2.9; declared here as glibc declares them.
extern int pipe2(int fds[2], int flags);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);

/// In the child: closes every descriptor from `from` up (those the spawn did not set).
static inline int slipway_spawn_close_from(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
/// In the child: changes to `path` before the program runs.
static inline int slipway_spawn_change_directory(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
/// A pipe whose two ends are closed on exec (a child gets only what a spawn hands it).
static inline int slipway_pipe_close_on_exec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
