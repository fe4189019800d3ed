package kmsg

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	in := "3,812,4242,-;stp: Unknown symbol llc_sap_open (err -2)\n SUBSYSTEM=x\n" +
		"12,813,4243,-;Invalid ELF header magic: != \\x7fELF\n" +
		"garbage\n6,x,1,-;bad seq\n"
	want := []Record{
		{Facility: 0, Level: 3, Seq: 812, Usec: 4242, Msg: "stp: Unknown symbol llc_sap_open (err -2)"},
		{Facility: 1, Level: 4, Seq: 813, Usec: 4243, Msg: "Invalid ELF header magic: != \x7fELF"},
	}
	if got := Parse([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
