#pragma once
// Signal numbers as the container runtime delivers them (Linux x86-64), and which ones a process
// without a handler ignores (model/containers/runtime.h, the fault model: SIGTERM without a
// handler terminates with 128 + n; SIGKILL cannot be caught).

namespace cfsim {

// Signal numbers (Linux x86-64). Not named SIGTERM etc.: <csignal> defines those as macros.
inline constexpr int kSigHup = 1, kSigInt = 2, kSigQuit = 3, kSigKill = 9, kSigUsr1 = 10, kSigUsr2 = 12, kSigTerm = 15,
                     kSigChld = 17, kSigCont = 18, kSigStop = 19, kSigUrg = 23, kSigWinch = 28;
// The usual names too, unless <csignal> already made them macros (with the same Linux values).
#ifndef SIGHUP
inline constexpr int SIGHUP = kSigHup;
#endif
#ifndef SIGINT
inline constexpr int SIGINT = kSigInt;
#endif
#ifndef SIGQUIT
inline constexpr int SIGQUIT = kSigQuit;
#endif
#ifndef SIGKILL
inline constexpr int SIGKILL = kSigKill;
#endif
#ifndef SIGUSR1
inline constexpr int SIGUSR1 = kSigUsr1;
#endif
#ifndef SIGUSR2
inline constexpr int SIGUSR2 = kSigUsr2;
#endif
#ifndef SIGTERM
inline constexpr int SIGTERM = kSigTerm;
#endif
#ifndef SIGCHLD
inline constexpr int SIGCHLD = kSigChld;
#endif
#ifndef SIGCONT
inline constexpr int SIGCONT = kSigCont;
#endif
#ifndef SIGSTOP
inline constexpr int SIGSTOP = kSigStop;
#endif
#ifndef SIGURG
inline constexpr int SIGURG = kSigUrg;
#endif
#ifndef SIGWINCH
inline constexpr int SIGWINCH = kSigWinch;
#endif

// Without a handler these leave the process running; every other signal ends it with 128 + signo.
inline constexpr bool ignored_by_default(int signo) {
  return signo == kSigChld || signo == kSigCont || signo == kSigUrg || signo == kSigWinch;
}

}  // namespace cfsim
