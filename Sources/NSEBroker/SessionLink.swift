/// What a session's callbacks (the reactor's watch, a socket's reply, a timer)
/// hold instead of a weak reference to the session, which they may outlive.
///
/// The first weak reference to an object gives it a side table, and every
/// retain and release of that object goes through the table from then on; a
/// session is retained and released on every message it handles. The session
/// sets `session` when it is made and clears it in its deinit, so a callback
/// that fires later finds nil. Everything runs on the reactor's one thread.
final class SessionLink {
    /// Loading it into a strong reference retains the session for the call.
    unowned(unsafe) var session: ChildSession?
    init() {}
}
