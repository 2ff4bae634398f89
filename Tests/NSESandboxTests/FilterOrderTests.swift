import Testing
import Glibc
import NSEPolicy
import NSESandbox

/// The shipped policy's filter, as an instance loads it, looks for the calls of
/// every round trip (read, write, poll) before any other: each of an instance's
/// requests makes them, and each goes through the filter.
@Test func theShippedFilterLooksForTheRoundTripsCallsFirst() throws {
    let policy = parsePolicy(shippedPolicyText())
    let program = try Sandbox.exportFilter(policy)
    // Classic BPF: each instruction is code (16 bits), jt, jf (8 bits each), k (32 bits).
    struct Instruction { var code: UInt16; var k: UInt32 }
    func byte(_ i: Int) -> UInt32 { UInt32(program[i]) }
    let instructions = stride(from: 0, to: program.count, by: 8).map { i -> Instruction in
        let code = UInt16(byte(i) | byte(i + 1) << 8)
        let k: UInt32 = byte(i + 4) | byte(i + 5) << 8 | byte(i + 6) << 16 | byte(i + 7) << 24
        return Instruction(code: code, k: k)
    }
    // After the architecture's check, the filter loads the call's number (offset 0
    // of seccomp_data) and compares it (BPF_JMP | BPF_JEQ | BPF_K) with rule after rule.
    let load: UInt16 = 0x20, jumpIfEqual: UInt16 = 0x15
    guard let loadsNumber = instructions.firstIndex(where: { $0.code == load && $0.k == 0 }) else {
        Issue.record("the filter never loads the call's number")
        return
    }
    let comparisons = instructions[(loadsNumber + 1)...].filter { $0.code == jumpIfEqual && $0.k < 0x4000_0000 }
    let compared: [UInt32] = comparisons.map { $0.k }
    // x86-64's numbers: read 0, write 1, poll 7.
    #expect(Array(compared.prefix(3)) == [0, 1, 7])
    #expect(compared.count > 20, "the filter names the policy's other calls after them")
}
