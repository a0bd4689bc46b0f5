// Linux calls Swift cannot make itself (prctl is variadic). Nothing else belongs here.
#include <sys/prctl.h>

static inline int slipway_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }
