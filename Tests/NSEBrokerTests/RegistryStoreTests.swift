import Testing
@testable import NSEBroker
import NSEWire

// The registry's locks, one per scope: who is granted what and when, with stand-in
// holders (a holder is any object's identity: here one per simulated process).

private final class Process {
    var id: ObjectIdentifier { ObjectIdentifier(self) }
}

/// Records grants in the order they happen.
private final class Grants {
    var log: [String] = []
    func callback(_ name: String) -> (Value) -> Void { { [unowned self] _ in self.log.append(name) } }
}

@Suite("Registry locks") struct RegistryStoreTests {
    @Test func processesOnDifferentHostsHoldTheirHostScopesAtOnce() {
        let store = RegistryStore(), grants = Grants()
        let a = Process(), b = Process(), c = Process()
        store.acquire(a.id, scope: "host:10.0.0.1", grant: grants.callback("a"))
        store.acquire(b.id, scope: "host:10.0.0.2", grant: grants.callback("b"))
        store.acquire(c.id, scope: "host:10.0.0.1", grant: grants.callback("c"))
        #expect(grants.log == ["a", "b"])
        store.release(a.id, scope: "host:10.0.0.1", contents: .table([TableEntry("k", "v")]))
        #expect(grants.log == ["a", "b", "c"])
        #expect(store.contents("host:10.0.0.1")["k"] == "v")
    }

    @Test func theGlobalScopeWaitsForItsHoldersOwnHostAndNoOtherHost() {
        let store = RegistryStore(), grants = Grants()
        let onX = Process(), onY = Process(), globalOnX = Process()
        store.acquire(onX.id, scope: "host:X", grant: grants.callback("x"))
        store.acquire(onY.id, scope: "host:Y", grant: grants.callback("y"))
        store.acquire(globalOnX.id, scope: "global", with: "host:X", grant: grants.callback("global"))
        #expect(grants.log == ["x", "y"])
        store.release(onY.id, scope: "host:Y", contents: .none)
        #expect(grants.log == ["x", "y"], "host Y is not the global requester's host")
        store.release(onX.id, scope: "host:X", contents: .none)
        #expect(grants.log == ["x", "y", "global"])
    }

    /// P holds its host scope and asks for the global one; Q, on the same host,
    /// asked for the global one first and waits for P's host scope. With one lock
    /// per scope and nothing more, each would wait for the other for ever.
    @Test func aHostHolderAskingForTheGlobalScopeIsNotStuckBehindAWaiterForItsHost() {
        let store = RegistryStore(), grants = Grants()
        let p = Process(), q = Process()
        store.acquire(p.id, scope: "host:X", grant: grants.callback("p host"))
        store.acquire(q.id, scope: "global", with: "host:X", grant: grants.callback("q global"))
        store.acquire(p.id, scope: "global", with: "host:X", grant: grants.callback("p global"))
        #expect(grants.log == ["p host", "p global"])
        store.release(p.id, scope: "host:X", contents: .none)
        #expect(grants.log == ["p host", "p global"], "p still holds the global scope")
        store.release(p.id, scope: "global", contents: .table([TableEntry("n", .int(1))]))
        #expect(grants.log == ["p host", "p global", "q global"])
        #expect(store.contents("global")["n"] == .int(1))
    }

    @Test func aHolderOfTheGlobalScopeGetsItsHostScopeWithoutWaiting() {
        let store = RegistryStore(), grants = Grants()
        let p = Process(), other = Process()
        store.acquire(p.id, scope: "global", with: "host:X", grant: grants.callback("global"))
        store.acquire(other.id, scope: "host:X", grant: grants.callback("other"))
        store.acquire(p.id, scope: "host:X", grant: grants.callback("host"))
        #expect(grants.log == ["global", "host"])
        // Both scopes come back at the holder's yield, and only then does the lock pass on.
        store.release(p.id, scope: "global", contents: .none)
        #expect(grants.log == ["global", "host"])
        store.release(p.id, scope: "host:X", contents: .none)
        #expect(grants.log == ["global", "host", "other"])
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        let store = RegistryStore(), grants = Grants()
        let holder = Process(), first = Process(), second = Process(), third = Process()
        store.acquire(holder.id, scope: "global", with: "host:X", grant: grants.callback("holder"))
        store.acquire(first.id, scope: "host:X", grant: grants.callback("first"))
        store.acquire(second.id, scope: "global", with: "host:Y", grant: grants.callback("second"))
        // Host X is free of holders only once the global holder goes, and the first
        // waiter asked for it before this one: it may not jump the queue.
        store.acquire(third.id, scope: "host:X", grant: grants.callback("third"))
        store.release(holder.id, scope: "global", contents: .none)
        #expect(grants.log == ["holder", "first", "second"])
        store.release(first.id, scope: "host:X", contents: .none)
        #expect(grants.log == ["holder", "first", "second", "third"])
    }

    @Test func aLendHappensOnlyWithoutAWait() {
        let store = RegistryStore(), grants = Grants()
        let holder = Process(), waiter = Process(), lender = Process()
        #expect(store.lendIfFree(lender.id, scope: "host:X") == .table([]))
        #expect(store.lendIfFree(holder.id, scope: "host:X") == nil, "lent already")
        store.release(lender.id, scope: "host:X", contents: .table([TableEntry("ssl", .bool(false))]))
        store.acquire(holder.id, scope: "host:X", grant: grants.callback("holder"))
        store.acquire(waiter.id, scope: "host:X", grant: grants.callback("waiter"))
        store.release(holder.id, scope: "host:X", contents: .none)
        #expect(grants.log == ["holder", "waiter"])
        #expect(store.lendIfFree(lender.id, scope: "host:Y")?["ssl"] == Value.none, "another host's scope is free")
        #expect(store.lendIfFree(Process().id, scope: "host:X") == nil, "the waiter holds it now")
    }

    @Test func aHolderThatDiesGivesUpItsScopesAndItsPlace() {
        let store = RegistryStore(), grants = Grants()
        let dead = Process(), queued = Process(), next = Process()
        store.acquire(dead.id, scope: "global", with: "host:X", grant: grants.callback("dead"))
        store.acquire(queued.id, scope: "global", with: "host:Y", grant: grants.callback("queued"))
        store.acquire(next.id, scope: "host:X", grant: grants.callback("next"))
        store.abandon(queued.id)
        store.abandon(dead.id)
        #expect(grants.log == ["dead", "next"])
        #expect(store.contents("global") == .table([]), "a dead holder's copy is never stored")
    }
}
