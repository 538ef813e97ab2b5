#!/bin/sh
# Port: upstream ran nmap-ncat (`nc --verbose -k -l ${PORT:-8081} --sh-exec /usr/bin/greet.sh`) on
# CentOS; the port's base is busybox-static, whose nc keeps listening with -ll and runs -e PROG.
nc -ll -p ${PORT:-8081} -e /bin/sh /usr/bin/greet.sh &

cleanup ()
{
        kill -9 $!
        exit 0
}

trap cleanup INT TERM

wait $!
