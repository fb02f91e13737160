#pragma once
// The Durable Object seam, whole: include this to use Durable Objects. One file per idea:
//   id.h           ids (names, unique ids, the namespace tag; D10)
//   namespace.h    the namespace (a binding) and its stubs (fetch, RPC)
//   object.h       what the app derives from (DurableObject) and its ctx (DurableObjectState)
//   storage_api.h  ctx.storage: sql.exec, the KV API, transactions, alarms (the platform's surface)
//   object_host.h  the runtime of one object: gates, group commit, alarms, resets, eviction — and
//                  its fault model
//   options.h      the namespace's options and fault knobs
//   errors.h       DurableObjectError, DataCloneError
//   storage.h      the storage engine under ctx.storage (SQLite; KV API in storage_kv.cpp, SQL API
//                  in storage_sql.cpp), stored_value.h its values
//   faults.h       this seam's fault verbs and knobs

#include "model/durable_objects/errors.h"
#include "model/durable_objects/id.h"
#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object.h"
#include "model/durable_objects/object_host.h"
#include "model/durable_objects/options.h"
#include "model/durable_objects/storage.h"
#include "model/durable_objects/storage_api.h"
