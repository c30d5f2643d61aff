#!/usr/bin/perl
# Verify every DKIM-Signature in a message with Perl Mail::DKIM::Verifier,
# serving public keys from a zone file (no network: a fake resolver object
# is installed with Mail::DKIM::DNS::resolver() and answers every query
# from the zone, NXDOMAIN for anything else).
#
# usage: maildkim_verify.pl ZONE MSG
#
# ZONE: NAME<TAB>TXT-VALUE per line, '#' lines ignored.
# MSG:  message file ('-' for stdin).  Mail::DKIM wants CRLF input; bare-LF
#       messages are passed through unchanged (convert them first, as an
#       MTA would; see README.md).
#
# Prints one line per signature, topmost first:
#   pass d=<d> s=<s>
#   fail d=<d> s=<s> <result> (<detail>)        (fail, invalid, temperror...)
#   unsupported d=<d> s=<s> <detail>           (e.g. ed25519-sha256 with
#                                               Mail::DKIM < 1.20230911)
# Exit 0 iff there is at least one signature and all pass; 3 if nothing
# failed but some signature used an algorithm this Mail::DKIM cannot check;
# 1 otherwise; 2 on usage error.  Needs Debian libmail-dkim-perl.

use strict;
use warnings;

use Mail::DKIM 0.40;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS;

package ZoneResolver;

sub new {
    my ( $class, $zone ) = @_;
    return bless { zone => $zone, err => 'NOERROR' }, $class;
}

sub send {
    my ( $self, $name, $type ) = @_;
    $type ||= 'A';
    my $key = lc $name;
    $key =~ s/\.$//;
    my $pkt = Net::DNS::Packet->new( $name, $type, 'IN' );
    $pkt->header->qr(1);
    $pkt->header->aa(1);
    if ( exists $self->{zone}{$key} ) {
        $pkt->header->rcode('NOERROR');
        if ( uc $type eq 'TXT' ) {
            my $v = $self->{zone}{$key};
            my @chunks = unpack( '(a255)*', $v );
            @chunks = ('') unless @chunks;
            $pkt->push(
                answer => Net::DNS::RR->new(
                    name    => $name,
                    type    => 'TXT',
                    ttl     => 60,
                    txtdata => \@chunks,
                )
            );
        }
    }
    else {
        $pkt->header->rcode('NXDOMAIN');
    }
    $self->{err} = 'NOERROR';
    return $pkt;
}

sub errorstring { return $_[0]->{err} }
sub udppacketsize { return 1232 }

package main;

sub usage {
    print STDERR "usage: maildkim_verify.pl ZONE MSG\n";
    exit 2;
}

usage() unless @ARGV == 2;
my ( $zonefile, $msgfile ) = @ARGV;

my %zone;
open( my $zf, '<', $zonefile ) or die "cannot open $zonefile: $!\n";
while ( my $line = <$zf> ) {
    $line =~ s/[\r\n]+$//;
    next if $line =~ /^\s*(#|$)/;
    my ( $name, $value ) = split /\t/, $line, 2;
    next unless defined $value;
    $name =~ s/^\s+|\s+$//g;
    $name =~ s/\.$//;
    $value =~ s/^\s+|\s+$//g;
    if ( $value =~ /^"/ ) {    # "part1" "part2"
        $value = join '', ( $value =~ /"((?:[^"\\]|\\.)*)"/g );
    }
    $zone{ lc $name } = $value unless exists $zone{ lc $name };
}
close $zf;

Mail::DKIM::DNS::resolver( ZoneResolver->new( \%zone ) );

my $data;
{
    local $/;
    if ( $msgfile eq '-' ) {
        binmode STDIN;
        $data = <STDIN>;
    }
    else {
        open( my $mf, '<', $msgfile ) or die "cannot open $msgfile: $!\n";
        binmode $mf;
        $data = <$mf>;
        close $mf;
    }
}
$data = '' unless defined $data;

# count DKIM-Signature fields ourselves: Mail::DKIM silently drops ones it
# cannot parse at all (they only show up in signature_reject_reason).
my ($header_block) = split /\r?\n\r?\n/, $data, 2;
$header_block = '' unless defined $header_block;
my $n_headers = () = $header_block =~ /^dkim-signature[ \t]*:/gim;

my $dkim = Mail::DKIM::Verifier->new();
$dkim->PRINT($data);
$dkim->CLOSE();

my @sigs = grep { ref($_) eq 'Mail::DKIM::Signature' } $dkim->signatures;
my ( $fail, $unsupported ) = ( 0, 0 );

sub clean {
    my $s = shift;
    return '?' unless defined $s && length $s;
    $s =~ s/\s+/ /g;
    return $s;
}

foreach my $sig (@sigs) {
    my $d      = clean( $sig->domain );
    my $s      = clean( $sig->selector );
    my $result = $sig->result || 'none';
    my $detail = clean( $sig->result_detail || $result );
    $detail = "$result: $detail" unless $detail =~ /^\Q$result\E\b/;
    if ( $result eq 'pass' ) {
        print "pass d=$d s=$s\n";
    }
    elsif ( $detail =~ /unsupported algorithm/i ) {
        print "unsupported d=$d s=$s $detail (Mail::DKIM $Mail::DKIM::VERSION)\n";
        $unsupported++;
    }
    else {
        print "fail d=$d s=$s $detail\n";
        $fail++;
    }
}
if ( $n_headers > @sigs ) {
    my $why = clean( $dkim->{signature_reject_reason} );
    for ( 1 .. $n_headers - @sigs ) {
        print "fail d=? s=? unparsable DKIM-Signature: $why\n";
        $fail++;
    }
}
if ( !@sigs && !$n_headers ) {
    print "fail d=? s=? no DKIM-Signature header\n";
    exit 1;
}
exit 1 if $fail;
exit 3 if $unsupported;
exit 0;
