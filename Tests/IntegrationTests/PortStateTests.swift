import Testing

@Suite("Port state")
struct PortStateTests {
    /// nmap.get_port_state asked again and again: each answer the script's own
    /// (from the third on, the child copies a template of the first identical
    /// reply: `ReplyTemplates`), walked in the same order, and a changed state
    /// answered as changed. nmap prints the same line.
    @Test func everyAnswerIsTheScriptsOwnAndFollowsSetPortState() throws {
        let open = try ListeningPorts(count: 1)
        let args = ["--script", testScripts("portstate") + "port-state-copies.nse", "-p", String(open.ports[0]), "127.0.0.1"]
        let expected = "|_port-state-copies: open/true/nil open/true/nil open/true/nil open/true/nil open/true/nil closed closed"
        let ours = try runNsebox(args)
        #expect(ours.stdout.contains(expected), "\(ours.stdout)\n\(ours.stderr)")
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        #expect(nmap.stdout.contains(expected), "nmap:\n\(nmap.stdout)")
    }
}
