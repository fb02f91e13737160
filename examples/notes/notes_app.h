#pragma once
// The notes app, as a user of cfsim would write it: a Worker in front of one Container class and
// one R2 bucket.
//   POST /notes/<id>        (body: the note) kept in the Durable Object's SQL storage; 200 = kept
//   GET  /notes/<id>        the note, rendered by the container, which caches each rendering in
//                           a file on its disk
//   PUT  /attachments/<key> (body: the bytes) kept in the R2 bucket ATTACHMENTS by the Worker
//   GET  /attachments/<key> read back from R2
// The container's disk is ephemeral: every crash, OOM kill, host restart or sleep wipes it. That
// is fine here, because the disk only holds a cache; the notes live in SQL storage, which
// outlives every container stop.

#include <cfsim/cfsim.h>

#include <string>
#include <string_view>

namespace notes {

inline constexpr int kRenderPort = 8080;

// The container's program: POST /render/<id> (body: the note) answers the note's HTML, from
// /cache/<id>.html if it is there, else rendered (5 ms of compute) and cached.
void render_server(cfsim::Process& p);
std::string render(std::string_view note);

// The Durable Object class of the NOTES binding: a Container (the SDK's class) running
// render_server, with the notes in ctx().storage().sql().
class Notes : public cfsim::Container {
 public:
  Notes(cfsim::DurableObjectState& state, cfsim::ContainerPlatform& platform);
  cfsim::Response fetch(const cfsim::Request& r) override;
};

// The Worker's fetch(request, env): notes go to the one NOTES instance "main", attachments to R2.
cfsim::Response worker_fetch(const cfsim::Request& r, cfsim::Env& env);

// Adds the app to a world: the NOTES container class and its image, the ATTACHMENTS bucket, the
// Worker, and the instance names fault plans may target ("NOTES/main").
void add_notes_app(cfsim::World& world);

}  // namespace notes
