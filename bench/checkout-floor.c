/*
 * The checkout floor in C (`npm run bench`, "checkout: floor: mkdir + link from a list, C"):
 * checkout-floor LIST DEST. LIST (bench/checkout-list.ts) holds NUL-separated records
 * "D\0mode\0path\0", "L\0object\0path\0", "S\0target\0path\0", "E\0mode\0path\0" (an empty file,
 * which `ostree checkout` copies instead of linking), directories parents first, paths relative
 * to DEST. Makes the directories, then links every file to its object (one link()
 * each, no lstat, no check) and makes the symlinks, on one thread: the system calls a hardlink
 * checkout of this tree cannot avoid, without reading a single tree object. Prints the seconds
 * from the first mkdir to the last link.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: checkout-floor LIST DEST\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(n + 1);
  if (!b || fread(b, 1, n, f) != (size_t)n) { perror("read"); return 1; }
  b[n] = 0;
  fclose(f);
  /* split into records of three fields */
  long cap = 1024, cnt = 0;
  char **fld = malloc(sizeof(char *) * cap);
  for (char *p = b; p < b + n; p += strlen(p) + 1) {
    if (cnt == cap) fld = realloc(fld, sizeof(char *) * (cap *= 2));
    fld[cnt++] = p;
  }
  if (cnt % 3) { fprintf(stderr, "bad list\n"); return 1; }
  if (chdir(argv[2])) { perror(argv[2]); return 1; }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < cnt; i += 3)
    if (fld[i][0] == 'D' && mkdir(fld[i + 2], strtol(fld[i + 1], 0, 8))) { perror(fld[i + 2]); return 1; }
  for (long i = 0; i < cnt; i += 3) {
    if (fld[i][0] == 'L' && link(fld[i + 1], fld[i + 2])) { perror(fld[i + 2]); return 1; }
    if (fld[i][0] == 'S' && symlink(fld[i + 1], fld[i + 2])) { perror(fld[i + 2]); return 1; }
    if (fld[i][0] == 'E') {
      int fd = open(fld[i + 2], O_WRONLY | O_CREAT | O_EXCL, strtol(fld[i + 1], 0, 8));
      if (fd < 0 || close(fd)) { perror(fld[i + 2]); return 1; }
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
