#pragma once
// cfsim for an app: the kernel and the whole platform model in one include (target cfsim::cfsim).
//   sim/sim.h           the kernel: virtual time, randomness, the scheduler, fibers, sync,
//                       traces, fault plans and the fault injector
//   model/world.h       a World: the deployment a test or a scenario builds (docs/architecture.md)
//   and every seam the World composes: HTTP and WebSockets, the Worker and its bindings, Durable
//   Objects and their storage, containers (the SDK's Container class, the runtime, the process,
//   its disk), the network, Workers KV, R2 — each with its fault verbs and knobs.
// Installed, these live under include/cfsim/ with cfsim's own relative paths, and include/cfsim is
// on the include path, so "model/r2/r2.h" can also be included alone (docs/install.md).

#include "sim/sim.h"

#include "model/http/body_stream.h"
#include "model/http/http.h"
#include "model/http/websocket.h"

#include "model/containers/container.h"
#include "model/containers/disk.h"
#include "model/containers/errors.h"
#include "model/containers/exec.h"
#include "model/containers/faults.h"
#include "model/containers/image.h"
#include "model/containers/instance_type.h"
#include "model/containers/platform.h"
#include "model/containers/process.h"
#include "model/containers/runtime.h"
#include "model/containers/signals.h"
#include "model/durable_objects/durable_object.h"
#include "model/durable_objects/faults.h"
#include "model/durable_objects/storage_api.h"
#include "model/net/faults.h"
#include "model/net/network.h"
#include "model/r2/faults.h"
#include "model/r2/r2.h"
#include "model/worker/worker.h"
#include "model/workers_kv/faults.h"
#include "model/workers_kv/workers_kv.h"
#include "model/world.h"
