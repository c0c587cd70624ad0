/*
 * The pod sandbox's first process for the end-to-end cluster: holds the pod's namespaces, reaps
 * orphans, exits on SIGINT/SIGTERM. Built static by hack/images, since no registry serves
 * registry.k8s.io/pause here.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) { (void)signo; _exit(0); }

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
  if (getpid() != 1) return 1; /* only meaningful as a namespace's init */
  struct sigaction on_stop = {.sa_handler = stop};
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &on_stop, NULL);
  sigaction(SIGTERM, &on_stop, NULL);
  sigaction(SIGCHLD, &on_child, NULL);
  for (;;) pause();
}
