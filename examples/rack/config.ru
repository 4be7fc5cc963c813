# A Rack app as toss runs it under puma: one page, /up for the health check and /visits, a
# counter kept in a file of the working directory (the release).
require 'fileutils'
require 'time'

# Like a pid file or a warmed cache: written when puma loads the app, so a release the app
# cannot write in fails its deploy's health check instead of its first visitor.
FileUtils.mkdir_p('tmp')
File.write('tmp/boot.log', "#{Time.now.utc.iso8601} pid #{Process.pid}\n", mode: 'a')

# Counts a visit: a new file renamed over the old one, so a reader never sees it half written.
def count_visit
  visits = (File.exist?('tmp/visits.txt') ? File.read('tmp/visits.txt').to_i : 0) + 1
  File.write('tmp/visits.txt.new', "#{visits}\n")
  File.rename('tmp/visits.txt.new', 'tmp/visits.txt')
  visits
end

COUNTER = Mutex.new
TEXT = { 'content-type' => 'text/plain' }.freeze

run lambda { |env|
  case env['PATH_INFO']
  when '/up'
    [200, TEXT, ["ok\n"]]
  when '/visits'
    [200, TEXT, ["visits: #{COUNTER.synchronize { count_visit }}\n"]]
  else
    [200, { 'content-type' => 'text/html' },
     ["<h1>Hello from Rack</h1>\n<p><a href=\"/visits\">visits</a></p>\n"]]
  end
}
