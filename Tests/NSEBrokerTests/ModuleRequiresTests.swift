@testable import NSEBroker
import Foundation
import Testing

/// What the zygote preloads is read from the scripts' sources: every spelling of
/// `require` nselib uses, names with dots and dashes included.
@Suite struct ModuleRequiresTests {
    @Test func everySpellingOfRequireIsFound() {
        let source = """
            local http = require "http"
            local U = require "lpeg-utility"
            local c = require('comm')
            local ssh = stdnse.silent_require 'openssl'
            local x = require "rpc.nfs"
            local notOne = require(name)
            """
        #expect(ModuleRequires.names(in: Array(source.utf8)) == ["http", "lpeg-utility", "comm", "openssl", "rpc.nfs"])
    }

    /// nmap's own install: a module's requires are followed to the last.
    @Test func modulesRequiredByModulesAreIncluded() throws {
        let nselib = "/usr/share/nmap"
        try #require(FileManager.default.fileExists(atPath: nselib + "/nselib/lpeg-utility.lua"), "no nmap install")
        let files = DataFiles(directories: [nselib])
        let names = ModuleRequires.closure(of: [Array(#"local U = require "lpeg-utility""#.utf8)], files: files)
        #expect(names.first == "lpeg-utility")
        #expect(names.contains("lpeg") && names.contains("stdnse"), "\(names)")
    }
}
