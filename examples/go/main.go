// A Go service as toss runs it: one static binary, ./app, on $PORT and $HOST; one page, /up for
// the health check and /visits, a counter kept in a file of the working directory (the release).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var counter sync.Mutex

// countVisit adds one to tmp/visits.txt: a new file renamed over the old one, so a reader never
// sees it half written.
func countVisit() (int, error) {
	counter.Lock()
	defer counter.Unlock()
	visits := 1
	if text, err := os.ReadFile("tmp/visits.txt"); err == nil {
		previous, _ := strconv.Atoi(strings.TrimSpace(string(text)))
		visits = previous + 1
	}
	if err := os.WriteFile("tmp/visits.txt.new", []byte(fmt.Sprintf("%d\n", visits)), 0o644); err != nil {
		return 0, err
	}
	return visits, os.Rename("tmp/visits.txt.new", "tmp/visits.txt")
}

// recordBoot is like a pid file or a warmed cache: written at start, so a release the app cannot
// write in fails its deploy's health check instead of its first visitor.
func recordBoot() error {
	if err := os.MkdirAll("tmp", 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile("tmp/boot.log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	_, err = fmt.Fprintf(log, "%s pid %d\n", time.Now().UTC().Format(time.RFC3339), os.Getpid())
	return err
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<h1>Hello from Go</h1>\n<p><a href=\"/visits\">visits</a></p>\n")
	})
	mux.HandleFunc("/up", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok\n")
	})
	mux.HandleFunc("/visits", func(w http.ResponseWriter, r *http.Request) {
		visits, err := countVisit()
		if err != nil {
			log.Print(err)
			http.Error(w, "cannot count visits", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visits: %d\n", visits)
	})
	return mux
}

func main() {
	if err := recordBoot(); err != nil {
		log.Fatal(err)
	}
	host, port := os.Getenv("HOST"), os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	server := &http.Server{Addr: net.JoinHostPort(host, port), Handler: routes()}
	go func() {
		// Finish the requests in flight, then exit: toss stops the old instance once it is idle.
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		server.Shutdown(context.Background())
	}()
	log.Printf("go listening on %s (%s)", server.Addr, os.Getenv("TOSS_ENV"))
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
